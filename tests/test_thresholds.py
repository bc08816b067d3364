"""Every threshold at its edge and just past it, in the failing direction too, and the order of side effects
that must not be reordered (traffic moves before anything is deleted)."""

import json
import re
import time

import pytest

from mlops_actions import gate as metrics_gate, monitor, register, smoke
from mlops_actions.backends import Endpoint, ModelVersion
from mlops_actions.inputs import InputError, Inputs


def gate(condition: str, metrics: dict, champion: dict | None = None) -> bool | None:
    """Whether the condition holds for these metrics (and a champion with these metric tags)."""
    inputs = Inputs.read(register.INPUTS, {"metrics-gate": condition, "model-name": "m", "model-path": "m"},
                         environ={})
    model = ModelVersion("m", "1", "models:/m/1", tags={f"metric.{k}": str(v) for k, v in (champion or {}).items()})
    [check] = metrics_gate.evaluate(inputs, metrics_gate.parse(inputs), metrics,
                                    metrics_gate.Champion("prod", model))
    return check.held


@pytest.mark.parametrize("condition, value, held", [
    ("accuracy >= 0.7", 0.7, True), ("accuracy >= 0.7", 0.6999, False), ("accuracy >= 0.7", 0.7001, True),
    ("accuracy > 0.7", 0.7, False), ("accuracy > 0.7", 0.7001, True),
    ("rmse <= 3.5", 3.5, True), ("rmse <= 3.5", 3.5001, False),
    ("rmse < 3.5", 3.5, False), ("rmse < 3.5", 3.4999, True),
    ("n == 3", 3, True), ("n == 3", 3.0001, False), ("n != 3", 3, False), ("n != 3", 2, True),
    ("loss <= -0.5", -0.5, True), ("loss <= -0.5", -0.4999, False), ("auc >= 1e-3", 0.001, True),
])
def test_the_metrics_gate_at_each_operators_edge(condition, value, held):
    metric = condition.split()[0]
    assert gate(condition, {metric: value}) is held


@pytest.mark.parametrize("condition, challenger, champion, held", [
    ("auc >= champion.auc", 0.9, 0.9, True), ("auc >= champion.auc", 0.8999, 0.9, False),
    ("auc > champion.auc", 0.9, 0.9, False), ("auc > champion.auc", 0.9001, 0.9, True),
    ("auc >= champion.auc - 0.005", 0.895, 0.9, True), ("auc >= champion.auc - 0.005", 0.8949, 0.9, False),
    ("auc >= champion.auc-0.005", 0.895, 0.9, True), ("auc >= champion.auc + 0.01", 0.9099, 0.9, False),
    ("rmse <= champion.rmse", 3.5, 3.5, True), ("rmse <= champion.rmse", 3.5001, 3.5, False),
    ("rmse < champion.rmse + 1e-3", 3.5009, 3.5, True), ("rmse < champion.rmse + 1e-3", 3.501, 3.5, False),
    ("f1-score >= champion.f1-score", 0.7, 0.7, True), ("recall >= champion.f1-score - 0.1", 0.6, 0.7, True),
])
def test_a_condition_against_the_champion_at_its_edge(condition, challenger, champion, held):
    names = ("auc", "rmse", "f1-score", "recall")
    assert gate(condition, dict.fromkeys(names, challenger), dict.fromkeys(names, champion)) is held


def test_no_champion_skips_the_conditions_against_it_and_keeps_the_others():
    inputs = Inputs.read(register.INPUTS, {"metrics-gate": "auc >= champion.auc, auc >= 0.95", "model-name": "m",
                                           "model-path": "m"}, environ={})
    none = metrics_gate.Champion("prod", None, "endpoint prod does not exist yet")
    against, absolute = metrics_gate.evaluate(inputs, metrics_gate.parse(inputs), {"auc": 0.9}, none)
    assert (against.held, against.found) == (None, "skipped: no champion (endpoint prod does not exist yet)")
    assert absolute.held is False


@pytest.mark.parametrize("condition, metrics, champion, message", [
    ("auc >= champion.auc", {"auc": 0.9}, {"accuracy": 0.8}, "the champion models:/m/1 (serving prod) has no "
     "metric 'auc' (its metric tags: accuracy)"),
    ("auc >= champion.auc", {"accuracy": 0.9}, {"auc": 0.8}, "metric 'auc' is not in the metrics file (it has: "
     "accuracy)"),
    ("auc >= champion.", {"auc": 0.9}, {"auc": 0.8}, "'auc >= champion.' is not a condition"),
    ("auc >= champion.auc * 2", {"auc": 0.9}, {"auc": 0.8}, "is not a condition"),
])
def test_a_metric_the_challenger_or_the_champion_lacks_is_bad_input(condition, metrics, champion, message):
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        gate(condition, metrics, champion)
    assert raised.value.name == "metrics-gate"


class Serving:
    """An endpoint with this traffic, each deployment serving version <its name> of model m."""

    def __init__(self, traffic: dict[str, int]):
        self.traffic = traffic

    def get_endpoint(self, name):
        return Endpoint(name, "", self.traffic, {deployment: f"models:/m/{deployment}" for deployment in self.traffic})

    def deployed_model(self, endpoint, deployment):
        return ModelVersion("m", deployment, f"models:/m/{deployment}")


@pytest.mark.parametrize("traffic, champion, reason", [
    ({"blue": 0, "green": 0}, None, "no deployment of endpoint prod takes traffic"),
    ({"blue": 49, "green": 51}, "green", ""), ({"blue": 100}, "blue", ""), ({"blue": 1, "green": 0}, "blue", ""),
])
def test_the_champion_is_the_deployment_taking_the_most_traffic(traffic, champion, reason):
    found = metrics_gate.find_champion(Serving(traffic), "prod")
    assert (found.model.version if found.model else None, found.reason) == (champion, reason)


def test_a_champion_condition_without_a_champion_endpoint_is_bad_input():
    inputs = Inputs.read(register.INPUTS, {"metrics-gate": "auc >= champion.auc", "model-name": "m",
                                           "model-path": "m"}, environ={})
    with pytest.raises(InputError, match="no champion-endpoint is given"):
        metrics_gate.evaluate(inputs, metrics_gate.parse(inputs), {"auc": 0.9}, None)


def test_a_champion_with_the_challengers_own_files_is_not_compared_with():
    inputs = Inputs.read(register.INPUTS, {"metrics-gate": "auc > champion.auc", "model-name": "m",
                                           "model-path": "m"}, environ={})
    same = ModelVersion("m", "3", "models:/m/3", tags={"metric.auc": "0.9", "mlops-actions.content-hash": "abc"})
    [check] = metrics_gate.evaluate(inputs, metrics_gate.parse(inputs), {"auc": 0.9},
                                    metrics_gate.Champion("prod", same), "abc")
    assert check.held is None and "has the challenger's own files" in check.found


def test_a_boolean_in_the_metrics_file_is_not_a_metric_of_one(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"converged": True, "accuracy": 0.9}))
    inputs = Inputs.read(register.INPUTS, {"metrics-file": "metrics.json", "model-name": "m", "model-path": "m"},
                         environ={})
    assert register.read_metrics(inputs, tmp_path) == {"accuracy": 0.9}


@pytest.mark.parametrize("share, expected", [(50, 10), (95, 19), (99, 20), (100, 20), (1, 1), (5, 1), (5.01, 2)])
def test_percentiles_are_nearest_rank(share, expected):
    assert smoke.percentile([float(v) for v in range(20, 0, -1)], share) == expected


@pytest.mark.parametrize("p95, limit, failed", [(250.0, 250.0, False), (250.01, 250.0, True), (249.0, 250.0, False),
                                                (0.0, 0.0, False), (250.0, None, False), (None, 250.0, True)])
def test_max_p95_ms_fails_above_the_limit_not_at_it(p95, limit, failed):
    assert bool(smoke.latency_problems(p95, limit)) is failed


# -- the monitor's thresholds, on a request log as the local router writes it ------------------------------------

@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local endpoint's state with a request log, and training data the requests match exactly (no drift)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "training.csv").write_text("a,b\n" + "".join(f"{v},{v % 7}\n" for v in range(40)))
    folder = tmp_path / "state" / "endpoints" / "watched"
    folder.mkdir(parents=True)
    (folder / "endpoint.json").write_text("{}")

    def log(*groups: tuple[int, int, float, float]):
        """(requests, of which failed, ms each, hours ago) per group; each request carries 4 training rows."""
        lines, row = [], 0
        for count, failed, ms, hours in groups:
            for index in range(count):
                rows = [[v, v % 7] for v in range(row % 40, row % 40 + 4)]
                row += 4
                lines.append(json.dumps({"time": time.time() - hours * 3600, "deployment": "blue", "ms": ms,
                                         "status": 500 if index < failed else 200, "columns": ["a", "b"],
                                         "rows": rows}))
        (folder / "requests.jsonl").write_text("\n".join(lines) + "\n")
    return log


def watch(**flags) -> int:
    return monitor.run(Inputs.read(monitor.INPUTS, {"endpoint-name": "watched", "training-data": "training.csv",
                                                    "state-dir": "state", **flags}, environ={}))


@pytest.mark.parametrize("failed, limit, code", [(1, "0.1", 0), (2, "0.1", 1), (0, "0", 0), (1, "0", 1)])
def test_max_error_rate_alerts_above_it_not_at_it(served, failed, limit, code):
    served((10, failed, 5.0, 0))
    assert watch(**{"max-error-rate": limit, "min-requests": "10"}) == code


@pytest.mark.parametrize("limit, code", [("100", 0), ("100.5", 0), ("99.9", 1)])
def test_the_monitors_max_p95_ms_alerts_above_it_not_at_it(served, limit, code):
    served((10, 0, 100.0, 0))
    assert watch(**{"max-p95-ms": limit, "min-requests": "10"}) == code


@pytest.mark.parametrize("minimum, code", [("10", 1), ("11", 0)])
def test_min_requests_is_the_fewest_judged(served, capsys, minimum, code):
    served((10, 5, 5.0, 0))
    assert watch(**{"min-requests": minimum}) == code
    out = capsys.readouterr().out
    assert ("too few to judge" in out) is (code == 0)
    [headline] = [line for line in out.splitlines() if line.startswith("### ")]
    if code == 0:  # the headline judges nothing below min-requests: no drift, no alert
        assert headline == "### ⏳ Monitoring `watched`: too few requests to judge (10, fewer than min-requests 11)"
    else:
        assert headline == "### 🚨 Monitoring `watched`: error rate 50.0% is above 5.0%"


@pytest.mark.parametrize("window, requests, code", [("1", 10, 0), ("3", 15, 1), ("", 15, 1), ("1.9", 10, 0)])
def test_window_hours_counts_only_the_last_hours(served, window, requests, code, tmp_path):
    served((10, 0, 5.0, 0.5), (5, 5, 5.0, 2))  # failures two hours ago
    assert watch(**{"window-hours": window, "min-requests": "10"}) == code
    assert json.loads((tmp_path / "monitoring" / "drift.json").read_text())["requests"] == requests


def test_identical_distributions_are_no_drift_even_at_a_zero_threshold(served, tmp_path):
    served((10, 0, 5.0, 0))
    assert watch(**{"psi-threshold": "0", "ks-threshold": "0.5", "min-requests": "10"}) == 0
    assert watch(**{"psi-threshold": "0.2", "ks-threshold": "0", "min-requests": "10"}) == 0


def test_fail_on_alert_false_warns_and_passes(served, capsys):
    served((10, 5, 5.0, 0))
    assert watch(**{"fail-on-alert": "false", "min-requests": "10"}) == 0
    assert "warning [Monitoring alert] watched: error rate 50.0% is above 5.0%." in capsys.readouterr().out


# -- the order of a rollback's side effects ----------------------------------------------------------------------

class Recorder:
    """A backend that records what is done to it, in order (the rollback's whole view of a backend)."""
    name = "recorder"

    def __init__(self, traffic: dict[str, int]):
        self.endpoint = Endpoint("ep", "http://127.0.0.1/score", dict(traffic), {n: f"m:{n}" for n in traffic})
        self.calls: list[tuple] = []

    def get_endpoint(self, name):
        return self.endpoint

    def set_traffic(self, endpoint, traffic, mirror=None):
        self.calls.append(("set_traffic", dict(traffic)))

    def delete_deployment(self, endpoint, name):
        self.calls.append(("delete_deployment", name))


@pytest.mark.parametrize("traffic, flags, expected", [
    ({"blue": 0, "green": 100}, {"previous-deployment": "blue"},  # the new one took all the traffic
     [("set_traffic", {"blue": 100}), ("delete_deployment", "green")]),
    ({"blue": 90, "green": 10, "red": 0}, {"deployment-name": "green"},  # no previous: the others scaled up
     [("set_traffic", {"blue": 100}), ("delete_deployment", "green")]),
    ({"blue": 100, "green": 0}, {"deployment-name": "green", "previous-deployment": "blue"},
     [("set_traffic", {"blue": 100}), ("delete_deployment", "green")]),
])
def test_a_rollback_moves_traffic_before_it_deletes_anything(traffic, flags, expected):
    backend = Recorder(traffic)
    inputs = Inputs.read(smoke.INPUTS, {"endpoint-name": "ep", "request-file": "r.json",
                                        "failed-deployment": "delete", **flags}, environ={})
    assert smoke.rollback(backend, inputs, "ep")
    assert backend.calls == expected


def test_a_rollback_that_keeps_the_failed_deployment_deletes_nothing():
    backend = Recorder({"blue": 0, "green": 100})
    inputs = Inputs.read(smoke.INPUTS, {"endpoint-name": "ep", "request-file": "r.json", "failed-deployment": "keep",
                                        "previous-deployment": "blue"}, environ={})
    assert "kept at 0%" in smoke.rollback(backend, inputs, "ep")
    assert backend.calls == [("set_traffic", {"blue": 100})]


@pytest.mark.parametrize("content, problem", [
    ('{"auc": NaN, "f1": 0.5, "loss": Infinity}', "auc, loss is not a finite number"),  # json reads NaN, Infinity
    ('{"auc": 1e400}', "auc is not a finite number"),  # too large for a float: inf
    ('{"auc": 1' + '0' * 400 + '}', "auc is not a finite number"),  # an integer no float holds
    ('{"auc": -Infinity}', "auc is not a finite number"),
    ("[" * 100000 + "]" * 100000, "not JSON (maximum recursion depth"),
])
def test_a_metric_that_is_not_a_finite_number_or_json_too_deep_is_bad_input(tmp_path, content, problem):
    (tmp_path / "metrics.json").write_text(content)
    inputs = Inputs.read(register.INPUTS, {"metrics-file": "metrics.json", "model-name": "m", "model-path": "m"},
                         environ={})
    with pytest.raises(InputError) as refused:
        register.read_metrics(inputs, tmp_path)
    assert refused.value.name == "metrics-file" and problem in refused.value.problem
    assert refused.value.fix == ("write each metric as a finite number" if "finite" in problem else
                                 "write the metrics as a JSON object")


@pytest.mark.parametrize("content, problem", [
    ('{"input_data": {"index": 5, "data": []}}', "input_data's index and data differ in length (or one is not a list)"),
    ("[" * 100000 + "]" * 100000, "not JSON (maximum recursion depth"),
])
def test_a_request_whose_index_is_not_a_list_or_too_deep_is_bad_input(tmp_path, content, problem):
    (tmp_path / "request.json").write_text(content)
    inputs = Inputs.read(smoke.INPUTS, {"request-file": "request.json", "endpoint-name": "ep"}, environ={})
    with pytest.raises(InputError) as refused:
        smoke.read_request(inputs, tmp_path)
    assert refused.value.name == "request-file" and problem in refused.value.problem
