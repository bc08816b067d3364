"""smoke-test in process, against an in-memory endpoint and a clock the test moves: the request it reads, the
checks on each answer, retries, latency figures, the rollback and what it reports."""

import json
import re

import pytest

from fake_backend import FakeBackend
from mlops_actions import backends, environment, smoke
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs

REQUEST = {"input_data": {"columns": ["a", "b"], "index": [0, 1], "data": [[1, 2], [3, 4]]}}


def read(**flags) -> Inputs:
    return Inputs.read(smoke.INPUTS, {"endpoint-name": "edge", "request-file": "request.json", **flags}, environ={})


def refused(call, *arguments, **keywords) -> InputError:
    with pytest.raises(InputError) as raised:
        call(*arguments, **keywords)
    return raised.value


# -- small parts -------------------------------------------------------------------------------------------------

def test_a_probe_is_marked_by_a_header_and_a_request_id_azure_keeps():
    first, second = smoke.probe_headers(), smoke.probe_headers()
    assert first["mlops-actions-probe"] == "smoke-test"
    assert set(first) == {"mlops-actions-probe", "x-ms-client-request-id"}
    assert re.fullmatch(r"mlops-actions-probe-[0-9a-f]{12}", first["x-ms-client-request-id"])
    assert len(first["x-ms-client-request-id"]) <= 40 and first != second


def test_milliseconds_as_shown():
    assert (smoke.ms(None), smoke.ms(None, ""), smoke.ms(12.345), smoke.ms(0.0)) == ("-", "", "12.3", "0.0")


def test_the_percentile_of_nothing_is_zero():
    assert smoke.percentile([], 95) == 0.0
    assert smoke.percentile([3.0], 1) == 3.0


def test_latency_problems_say_what_failed():
    assert smoke.latency_problems(250.04, 250) == ["p95 latency 250.0 ms is above max-p95-ms 250 ms"]
    assert smoke.latency_problems(None, 0.5) == ["every request was retried after a 429 or 408: there is no "
                                                 "latency to hold to max-p95-ms"]


@pytest.mark.parametrize("text, expected", [("[1, 0]", [1, 0]), ("out.json", {"a": 1}), ('"x"', "x")])
def test_a_json_input_inline_or_from_a_file(tmp_path, text, expected):
    (tmp_path / "out.json").write_text('{"a": 1}')
    assert smoke.load_json_input(read(**{"expected-output": text}), "expected-output", tmp_path) == expected


def test_a_json_input_that_is_neither(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    for text in ("bad.json", "missing.json"):
        error = refused(smoke.load_json_input, read(**{"expected-output": text}), "expected-output", tmp_path)
        assert error.name == "expected-output" and error.problem.startswith("neither JSON nor a JSON file (")
        assert error.fix == "give inline JSON or the path of a .json file"


@pytest.mark.parametrize("payload, rows", [
    (REQUEST, 2), ({"input_data": [[1], [2], [3]]}, 3), ({"input_data": {"data": "x"}}, None), ([1, 2], None),
    ({"data": [[1]]}, None), ({"input_data": {"columns": ["a"]}}, None),
])
def test_rows_of_a_request(payload, rows):
    assert smoke.request_rows(payload) == rows


def test_a_request_is_read_with_its_rows(tmp_path):
    (tmp_path / "request.json").write_text(json.dumps(REQUEST))
    assert smoke.read_request(read(), tmp_path) == ((tmp_path / "request.json").read_bytes(), 2)
    (tmp_path / "request.json").write_text('{"input_data": {"data": [[1]]}}')  # no index: any length
    assert smoke.read_request(read(), tmp_path)[1] == 1
    (tmp_path / "request.json").write_text('{"anything": 1}')
    assert smoke.read_request(read(), tmp_path)[1] is None
    (tmp_path / "request.json").write_text('[[1, 2]]')  # not an Azure ML payload: sent as it is
    assert smoke.read_request(read(), tmp_path) == (b"[[1, 2]]", None)


def test_a_request_that_cannot_be_sent(tmp_path):
    error = refused(smoke.read_request, Inputs(smoke.INPUTS, {"request-file": ""}), tmp_path)
    assert (error.name, error.problem, error.fix) == ("request-file", "empty", "give a JSON file with the request "
                                                      "to send")
    (tmp_path / "request.json").write_text("{")
    error = refused(smoke.read_request, read(), tmp_path)
    assert error.problem.startswith("not JSON (") and error.fix == "give a JSON file in the Azure ML payload format"
    for data in ({"index": [0], "data": [[1], [2]]}, {"data": {"a": 1}}, {"index": [0]}):
        (tmp_path / "request.json").write_text(json.dumps({"input_data": data}))
        error = refused(smoke.read_request, read(), tmp_path)
        assert error.problem == "input_data's index and data differ in length (or one is not a list)"
        assert error.fix == "give one index entry per data row"


# -- checks ------------------------------------------------------------------------------------------------------

def checks(tmp_path, rows=2, **flags) -> smoke.Checks:
    return smoke.Checks(read(**flags), tmp_path, rows)


def test_default_checks_are_the_status_and_as_many_predictions_as_rows(tmp_path):
    found = checks(tmp_path)
    assert (found.status, found.output, found.schema, found.rows) == (200, None, None, 2)
    assert found.describe() == ["status 200", "2 predictions"]
    assert found.problems(200, "[1, 0]") == []
    assert found.problems(500, "[1]") == ["status 500, expected 200", "1 predictions, expected 2"]
    assert found.problems(200, '{"a": 1}') == ["no list of predictions, expected 2"]
    assert found.problems(200, "oops") == ["the answer is not JSON"]
    assert found.problems(201, "oops") == ["status 201, expected 200", "the answer is not JSON"]


def test_status_alone_is_checked_without_json(tmp_path):
    found = checks(tmp_path, rows=None, **{"expected-status": "202"})
    assert found.describe() == ["status 202"] and found.rows is None
    assert found.problems(202, "not json") == []
    assert found.problems(200, "not json") == ["status 200, expected 202"]


def test_the_expected_status_at_its_bounds(tmp_path):
    assert (checks(tmp_path, **{"expected-status": "100"}).status,
            checks(tmp_path, **{"expected-status": "599"}).status) == (100, 599)


@pytest.mark.parametrize("status", ["99", "600", "2x", "200.5"])
def test_an_expected_status_that_is_not_one(tmp_path, status):
    assert refused(checks, tmp_path, 2, **{"expected-status": status}).name == "expected-status"


def test_expected_rows_given_or_not_checked(tmp_path):
    assert checks(tmp_path, rows=5, **{"expected-rows": "0"}).rows == 0
    assert checks(tmp_path, rows=5, **{"expected-rows": "0"}).problems(200, "[]") == []
    assert checks(tmp_path, rows=5, **{"expected-rows": "3"}).rows == 3
    assert refused(checks, tmp_path, 5, **{"expected-rows": "-1"}).name == "expected-rows"
    assert refused(checks, tmp_path, 5, **{"expected-rows": "2.5"}).name == "expected-rows"


def test_expected_output_and_schema(tmp_path, monkeypatch):
    needed = []
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))
    (tmp_path / "schema.json").write_text(json.dumps({"type": "array", "items": {"type": "integer"}}))
    found = checks(tmp_path, rows=None, **{"expected-output": "[1, 0]", "response-schema": "schema.json"})
    assert needed == ["schema"]
    assert found.describe() == ["status 200", "output equals the expected JSON", "output matches the JSON Schema"]
    assert found.problems(200, "[1, 0]") == []
    assert found.problems(200, '[1, "a"]') == ['output differs from the expected [1, 0]',
                                               "schema: 'a' is not of type 'integer'"]
    long = checks(tmp_path, rows=None, **{"expected-output": json.dumps(list(range(100)))})
    assert long.problems(200, "[]") == [f"output differs from the expected {json.dumps(list(range(100)))[:120]}"]


def test_no_schema_needs_no_schema_packages(tmp_path, monkeypatch):
    needed = []
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))
    checks(tmp_path)
    assert needed == []


# -- rollback ----------------------------------------------------------------------------------------------------

def rollback(backend, **flags) -> str:
    return smoke.rollback(backend, read(**flags), "ep")


def test_a_rollback_without_a_way_to_tell_the_failed_deployment_changes_nothing(capsys):
    backend = FakeBackend({"blue": 50, "green": 50})
    assert rollback(backend, **{"previous-deployment": "gone"}) == ""
    assert backend.calls == []
    assert capsys.readouterr().out == ("warning [Rollback] Nothing was rolled back on ep: with neither "
                                       "deployment-name nor an existing previous-deployment there is no telling the "
                                       "failed deployment from a good one.\n")


def test_a_rollback_to_the_previous_deployment_deletes_every_other_one_with_traffic():
    backend = FakeBackend({"blue": 0, "green": 99, "red": 1, "grey": 0})
    assert rollback(backend, **{"previous-deployment": "blue"}) == ("traffic returned to blue (100%); green, red "
                                                                    "deleted")
    assert backend.calls == [("set_traffic", {"blue": 100}, None), ("delete_deployment", "green"),
                             ("delete_deployment", "red")]


def test_a_rollback_of_a_named_deployment_that_had_no_traffic_only_deletes_it():
    backend = FakeBackend({"blue": 100, "green": 0})
    assert rollback(backend, **{"deployment-name": "green"}) == "green deleted"
    assert backend.calls == [("delete_deployment", "green")]


def test_a_rollback_never_deletes_the_previous_deployment_or_one_that_is_gone():
    backend = FakeBackend({"blue": 100, "green": 0})
    assert rollback(backend, **{"deployment-name": "blue", "previous-deployment": "blue"}) == \
        "traffic returned to blue (100%)"
    assert backend.calls == [("set_traffic", {"blue": 100}, None)]
    backend = FakeBackend({"blue": 100})
    assert rollback(backend, **{"deployment-name": "green"}) == ""
    assert backend.calls == []


def test_a_kept_deployment_is_not_deleted_and_the_others_are_rescaled():
    backend = FakeBackend({"blue": 30, "green": 40, "red": 30})
    assert rollback(backend, **{"deployment-name": "green", "failed-deployment": "keep"}) == "green kept at 0%"
    assert backend.calls == [("set_traffic", {"blue": 50, "red": 50}, None)]


# -- the summary -------------------------------------------------------------------------------------------------

def test_summary_of_a_failed_test_with_a_rollback(tmp_path):
    answers = [smoke.Answer(200, "[1, 0]", "blue", 0.01, []), smoke.Answer(500, "x" * 400, "green", 0.02, ["bad"]),
               smoke.Answer(200, "[1, 0]", "blue", 0.03, [])]
    text = smoke.summary("ep/green", answers, checks(tmp_path), ["1 of 3 answers failed"],
                         {"p50": 10.0, "p95": 30.0, "p99": 30.0, "max": 30.25}, "green deleted")
    assert text == (
        "### ❌ Smoke test of `ep/green`: 2/3 answers passed\n\n"
        "| Requests | Failures | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n"
        "| 3 | 1 | 10.0 | 30.0 | 30.0 | 30.2 |\n\n"
        "Checks: status 200; 2 predictions\n\n**1 of 3 answers failed**\n\n**Rolled back:** green deleted\n\n"
        "<details><summary>Sample answers</summary>\n\n| Status | Deployment | Body |\n|---|---|---|\n"
        f"| 200 | blue | `[1, 0]` |\n| 500 | green | `{'x' * 300}` |\n\n</details>")


def test_summary_shows_at_most_five_distinct_answers(tmp_path):
    answers = [smoke.Answer(200, f"[{i}]", "blue", 0.01, []) for i in range(7)]
    text = smoke.summary("ep", answers, checks(tmp_path), [], dict.fromkeys(("p50", "p95", "p99", "max")), "")
    assert text.startswith("### ✅ Smoke test of `ep`: 7/7 answers passed")
    assert "| - | - | - | - |" in text and "Rolled back" not in text
    assert "`[4]`" in text and "`[5]`" not in text


# -- the job -----------------------------------------------------------------------------------------------------

class Clock:
    """perf_counter and sleep for smoke.py: each request takes the next of `durations` (ms)."""

    def __init__(self):
        self.now, self.slept, self.durations = 0.0, [], []

    def perf_counter(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)


class Timed(FakeBackend):
    def __init__(self, clock, *arguments, **keywords):
        super().__init__(*arguments, **keywords)
        self.clock = clock

    def invoke(self, endpoint, body, deployment, key, timeout, extra_headers=None):
        self.clock.now += self.clock.durations.pop(0) / 1000 if self.clock.durations else 0.001
        return super().invoke(endpoint, body, deployment, key, timeout, extra_headers)


@pytest.fixture
def job(monkeypatch, runner):
    clock = Clock()
    fake = Timed(clock, {"blue": 100, "green": 0}, endpoint="edge")
    fake.answers = [(200, "[1, 0]", "blue")]
    monkeypatch.setattr(smoke, "time", clock)
    monkeypatch.setattr(backends, "connect", lambda inputs: {"local": fake, "azureml": fake}[inputs["backend"]])
    (runner.workspace / "request.json").write_text(json.dumps(REQUEST))

    def run(**flags) -> int:
        return smoke.run(read(**flags))
    run.backend, run.clock, run.runner = fake, clock, runner
    return run


def test_a_passing_test_reports_its_latency(job, capsys):
    job.clock.durations = [10, 20, 30, 40]
    assert job(requests="4", **{"timeout-seconds": "2.5"}) == 0
    sent = ("edge", json.dumps(REQUEST).encode(), None, "the-key", 2.5)
    assert [call[:5] for call in job.backend.invoked] == [sent] * 4
    assert job.runner.summary().startswith("### ✅ Smoke test of `edge`: 4/4 answers passed")
    assert "| 200 | blue | `[1, 0]` |" in job.runner.summary()
    assert all(call[5]["mlops-actions-probe"] == "smoke-test" for call in job.backend.invoked)
    assert capsys.readouterr().out.endswith("edge: 4/4 passed; p50 20.0 ms, p95 40.0 ms\n")
    assert job.runner.outputs() == {"passed": "true", "latency-p50-ms": "20.0", "latency-p95-ms": "40.0",
                                    "requests": "4", "failures": "0", "retried": "0", "rolled-back": "false"}
    assert "| 4 | 0 | 20.0 | 40.0 | 40.0 | 40.0 |" in job.runner.summary()


def test_defaults_send_ten_requests_one_at_a_time_with_a_thirty_second_timeout(job, capsys):
    assert job() == 0
    assert len(job.backend.invoked) == 10 and {call[4] for call in job.backend.invoked} == {30.0}
    assert "Sending 10 requests to edge (1 at a time)" in capsys.readouterr().out


def test_one_deployment_is_tested_directly(job, capsys):
    assert job(**{"deployment-name": "green", "requests": "1"}) == 0
    assert job.backend.invoked[0][2] == "green"
    assert job.backend.calls == [("concurrency_limit", "edge", "green")]
    assert capsys.readouterr().out.endswith("edge/green: 1/1 passed; p50 1.0 ms, p95 1.0 ms\n")


@pytest.mark.parametrize("flags, missing", [({"endpoint-name": "gone"}, "gone"),
                                            ({"deployment-name": "red"}, "edge/red")])
def test_nothing_to_test(job, flags, missing):
    with pytest.raises(ActionError) as raised:
        job(**flags)
    assert raised.value.title == "Nothing to test"
    assert str(raised.value) == (f"{missing} does not exist on the fake backend. Fix: deploy it first with "
                                 "deploy-endpoint.")


def test_failed_answers_fail_the_test_and_name_the_first(job, capsys):
    job.backend.answers = [(200, "[1, 0]", "blue"), (500, "boom", "green"), (500, "boom", "green")]
    assert job(requests="3") == 1
    out = capsys.readouterr().out
    assert ("::error title=Smoke test of edge failed::2 of 3 answers failed: status 500, expected 200; the answer is "
            "not JSON (first: status 500, body 'boom')") in out
    assert out.endswith("edge: 1/3 passed; p50 1.0 ms, p95 1.0 ms\n")
    assert job.runner.outputs()["passed"] == "false" and job.runner.outputs()["failures"] == "2"
    assert job.backend.calls == [("concurrency_limit", "edge", None)]  # no rollback unless asked


def test_a_body_in_the_error_is_cut_at_200_characters(job, capsys):
    job.backend.answers = [(500, "b" * 300, "blue")]
    assert job(requests="1") == 1
    assert f"body '{'b' * 200}')" in capsys.readouterr().out


def test_429_and_408_are_retried_with_doubling_pauses_and_left_out_of_the_latency(job, capsys):
    job.backend.answers = [(429, "", "blue"), (408, "", "blue"), (200, "[1, 0]", "blue"), (200, "[1, 0]", "blue")]
    job.clock.durations = [5, 5, 50, 7]
    assert job(requests="2") == 0
    assert job.clock.slept == [0.5, 1.0]
    assert job.runner.outputs()["retried"] == "1" and job.runner.outputs()["latency-p95-ms"] == "7.0"
    assert capsys.readouterr().out.endswith("edge: 2/2 passed; p50 7.0 ms, p95 7.0 ms; 1 retried after 429/408 (not "
                                            "in the latency figures)\n")


def test_after_three_retries_the_answer_is_judged(job):
    job.backend.answers = [(429, "", "blue")]
    assert job(requests="1", **{"max-p95-ms": "100"}) == 1
    assert len(job.backend.invoked) == 4 and job.clock.slept == [0.5, 1.0, 2.0]
    assert job.runner.outputs()["latency-p50-ms"] == "" and job.runner.outputs()["latency-p95-ms"] == ""
    assert job.runner.outputs()["failures"] == "1"


def test_max_p95_fails_the_test(job, capsys):
    job.clock.durations = [10, 300]
    assert job(requests="2", **{"max-p95-ms": "299.9"}) == 1
    assert "p95 latency 300.0 ms is above max-p95-ms 299.9 ms" in capsys.readouterr().out


def test_concurrency_is_capped_at_what_the_deployment_admits(job, capsys):
    job.backend.limit = 2
    assert job(concurrency="3") == 0
    out = capsys.readouterr().out
    assert ("::notice title=Smoke test concurrency::concurrency 3 is more than edge admits at once (2: 2 x "
            "max_concurrent_requests_per_instance x instance_count); sending 2 at a time.") in out
    assert "(2 at a time)" in out


def test_concurrency_within_the_limit_is_kept(job, capsys):
    job.backend.limit = 2
    assert job(concurrency="2") == 0
    assert "notice" not in capsys.readouterr().out


def test_a_failed_test_rolls_back_when_asked(job, capsys):
    job.backend.endpoints["edge"].traffic = {"blue": 0, "green": 100}
    job.backend.answers = [(500, "", "green")]
    assert job(requests="1", rollback="true", **{"previous-deployment": "blue"}) == 1
    assert job.backend.calls == [("concurrency_limit", "edge", None), ("set_traffic", {"blue": 100}, None),
                                 ("delete_deployment", "green")]
    out = capsys.readouterr().out
    assert "::group::Rolling back edge" in out
    assert "::warning title=Rollback::Rolled back edge: traffic returned to blue (100%25); green deleted." in out
    assert job.runner.outputs()["rolled-back"] == "true"
    assert "**Rolled back:** traffic returned to blue (100%); green deleted" in job.runner.summary()


def test_a_passing_test_rolls_nothing_back(job):
    assert job(requests="1", rollback="true", **{"previous-deployment": "blue"}) == 0
    assert job.backend.calls == [("concurrency_limit", "edge", None)]
    assert job.runner.outputs()["rolled-back"] == "false"


def test_a_bad_previous_deployment_name_is_refused(job):
    with pytest.raises(InputError) as raised:
        job(**{"previous-deployment": "-x"})
    assert raised.value.name == "previous-deployment"


def test_p95_and_p99_are_nearest_ranks_of_the_timed_requests(job):
    job.clock.durations = list(range(101, 0, -1))
    assert job(requests="101") == 0
    assert job.runner.outputs()["latency-p95-ms"] == "96.0"  # the 96th of 101 (ceil(95.95))
    assert "| 101 | 0 | 51.0 | 96.0 | 100.0 | 101.0 |" in job.runner.summary()


def test_an_expected_output_file_is_read_from_the_workspace(job):
    (job.runner.workspace / "expected.json").write_text("[1, 0]")
    assert job(requests="1", **{"expected-output": "expected.json"}) == 0


@pytest.mark.parametrize("flags", [{"max-p95-ms": "0.5"}, {"timeout-seconds": "0.1"}, {"timeout-seconds": "1"}])
def test_small_limits_are_taken(job, flags):
    assert job(requests="1", **flags) in (0, 1)
    assert len(job.backend.invoked) == 1


def test_requests_are_sent_as_many_at_a_time_as_asked(job):
    import threading

    active, most, changed = [0], [0], threading.Condition()
    invoke = job.backend.invoke

    def held(*arguments, **keywords):
        """Each request waits (up to 2 s) until three are in flight: more workers would show as more at once."""
        with changed:
            active[0] += 1
            most[0] = max(most[0], active[0])
            changed.notify_all()
            changed.wait_for(lambda: active[0] >= 3, timeout=2)
        answer = invoke(*arguments, **keywords)
        with changed:
            active[0] -= 1
        return answer
    job.backend.invoke = held
    assert job(requests="6", concurrency="3") == 0
    assert most[0] == 3


@pytest.mark.parametrize("flags, name", [
    ({"requests": "2.5"}, "requests"), ({"concurrency": "1.5"}, "concurrency"), ({"requests": "0"}, "requests"),
    ({"requests": "100001"}, "requests"), ({"concurrency": "65"}, "concurrency"),
    ({"concurrency": "0"}, "concurrency"), ({"timeout-seconds": "0.09"}, "timeout-seconds"),
    ({"timeout-seconds": "601"}, "timeout-seconds"), ({"max-p95-ms": "-1"}, "max-p95-ms"),
    ({"deployment-name": "-x"}, "deployment-name")])
def test_numbers_out_of_their_bounds_are_input_errors(job, flags, name):
    with pytest.raises(InputError) as raised:
        job(**flags)
    assert raised.value.name == name and job.backend.invoked == []


@pytest.mark.parametrize("chosen, required", [("local", []), ("azureml", ["azureml"])])
def test_only_the_azureml_backend_needs_its_packages(job, monkeypatch, chosen, required):
    needed = []
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))
    assert job(requests="1", backend=chosen) == 0
    assert needed == required


def test_the_key_is_masked_on_a_runner(job, capsys):
    assert job(requests="1") == 0
    assert "::add-mask::the-key" in capsys.readouterr().out
