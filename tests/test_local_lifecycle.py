"""The model lifecycle on the local backend, for real: an MLflow registry on sqlite and Azure's inference
server as processes on 127.0.0.1."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import models
from conftest import as_runner
from mlops_actions import deploy, github, invoke, register, smoke, traffic
from mlops_actions.backends import processes
from mlops_actions.backends.local import LocalBackend, server_marker
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A state folder, two trained MLflow models and a request; every endpoint is stopped at the end."""
    folder = tmp_path_factory.mktemp("lab")
    lab = {"state": folder / "state", "v1": models.mlflow_model(folder / "v1", 1.0),
           "v2": models.mlflow_model(folder / "v2", 0.5), "request": folder / "request.json", "folder": folder}
    lab["request"].write_text(json.dumps(models.REQUEST))
    for version in ("v1", "v2"):  # registered once for every test: "diabetes" versions 1 and 2
        call(register, lab, **{"model-name": "diabetes", "model-path": str(lab[version])})
    yield lab
    backend = LocalBackend(lab["state"])
    for name in backend.endpoints():
        backend.delete_endpoint(name)


@pytest.fixture
def runner(lab, monkeypatch, tmp_path):
    """A runner whose workspace is the lab's folder: the models and the request are in the repository."""
    return as_runner(monkeypatch, tmp_path, lab["folder"])


def call(job, lab, **flags):
    return job.run(Inputs.read(job.INPUTS, {"state-dir": str(lab["state"]), **flags}, environ={}))


def register_model(lab, runner, path, name="diabetes", **flags):
    assert call(register, lab, **{"model-name": name, "model-path": str(path), **flags}) == 0
    return runner.outputs()


def smoke_test(lab, endpoint, **flags):
    return call(smoke, lab, **{"endpoint-name": endpoint, "request-file": str(lab["request"]), "requests": "5",
                               "expected-output": json.dumps(models.ANSWER), **flags})


def test_register_is_versioned_tagged_and_idempotent(lab, runner, monkeypatch):
    monkeypatch.setenv("GITHUB_SHA", "0123abc")
    monkeypatch.setenv("GITHUB_REPOSITORY", "team/diabetes")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    metrics = lab["folder"] / "metrics.json"
    metrics.write_text('{"accuracy": 0.83, "auc": 0.9}')
    first = register_model(lab, runner, lab["v1"], "registry", tags="{team: risk}", properties='{"data": "v3"}',
                           **{"metrics-file": str(metrics), "metrics-gate": "accuracy >= 0.7\nauc > 0.85"})
    assert first == {"model-name": "registry", "model-version": "1", "model-uri": "models:/registry/1",
                     "already-registered": "false"}
    again = register_model(lab, runner, lab["v1"], "registry")
    assert again["model-version"] == "1" and again["already-registered"] == "true"
    elsewhere = shutil.copytree(lab["v1"], lab["folder"] / "elsewhere" / "v1")  # the same files from another path
    assert register_model(lab, runner, elsewhere, "registry")["model-version"] == "1"
    renamed = shutil.copytree(lab["v1"], lab["folder"] / "renamed")  # served as AZUREML_MODEL_DIR/renamed/...
    assert register_model(lab, runner, renamed, "registry")["model-version"] == "2"
    second = register_model(lab, runner, lab["v2"], "registry")
    assert second["model-version"] == "3" and second["already-registered"] == "false"
    tags = LocalBackend(lab["state"]).get_model("registry", "1").tags
    assert {"team": "risk", "property.data": "v3", "metric.accuracy": "0.83", "git.commit": "0123abc",
            "github.run-url": "https://github.com/team/diabetes/actions/runs/42"}.items() <= tags.items()


def test_shell_metacharacters_in_tags_and_description_are_data(lab, runner, monkeypatch):
    tmp_path = runner.workspace / "hostile"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    hostile = "$(touch pwned); `touch pwned2` && echo 'x' | sh #"
    model = models.mlflow_model(tmp_path / "model", 3.0)
    register_model(lab, runner, model, description=hostile, tags=json.dumps({"note": hostile}))
    found = LocalBackend(lab["state"]).get_model("diabetes", runner.outputs()["model-version"])
    assert found.tags["note"] == hostile
    assert LocalBackend(lab["state"]).client.get_model_version("diabetes", found.version).description == hostile
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_a_failed_metrics_gate_registers_nothing(lab, runner, capsys):
    metrics = lab["folder"] / "weak.json"
    metrics.write_text('{"accuracy": 0.55}')
    before = LocalBackend(lab["state"]).client.search_model_versions("name='gated'")
    assert call(register, lab, **{"model-name": "gated", "model-path": str(lab["v1"]),
                                  "metrics-file": str(metrics), "metrics-gate": "accuracy >= 0.7"}) == 1
    assert "The metrics gate failed: accuracy >= 0.7 is not met (accuracy = 0.55)" in capsys.readouterr().out
    assert LocalBackend(lab["state"]).client.search_model_versions("name='gated'") == before == []
    assert runner.outputs() == {}


def test_the_champion_is_the_model_taking_the_most_traffic_and_a_challenger_that_loses_is_not_registered(
        lab, runner, capsys):
    metrics = lab["folder"] / "champion-metrics.json"

    def challenge(model: Path, auc: float) -> int:
        metrics.write_text(json.dumps({"auc": auc, "accuracy": 0.8}))
        return call(register, lab, **{"model-name": "champ", "model-path": str(model), "metrics-file": str(metrics),
                                      "metrics-gate": "auc >= champion.auc - 0.005\naccuracy >= 0.7",
                                      "champion-endpoint": "champion"})

    assert challenge(lab["v1"], 0.9) == 0  # no endpoint yet: only the absolute condition applies
    assert "No champion yet (endpoint champion does not exist yet)" in runner.summary()
    assert call(deploy, lab, **{"endpoint-name": "champion", "model-name": "champ", "model-version": "1"}) == 0
    assert LocalBackend(lab["state"]).deployed_model("champion", "blue").tags["metric.auc"] == "0.9"
    capsys.readouterr()

    v3 = models.mlflow_model(lab["folder"] / "champ-v3", 3.0)
    assert challenge(v3, 0.8949) == 1  # just below the champion's 0.9 - 0.005
    assert "The metrics gate failed: auc >= champion.auc - 0.005 is not met (auc = 0.8949, champion.auc = 0.9 - " \
           "0.005); nothing was registered." in capsys.readouterr().out
    assert [str(v.version) for v in LocalBackend(lab["state"]).client.search_model_versions("name='champ'")] == ["1"]
    assert challenge(lab["v2"], 0.895) == 0  # at the edge: registered
    assert runner.outputs()["model-version"] == "2"
    assert "| auc | 0.895 | 0.9 | auc >= champion.auc - 0.005 | ✅ met |" in runner.summary()
    assert "| accuracy | 0.8 | 0.8 | accuracy >= 0.7 | ✅ met |" in runner.summary()


def test_a_champion_deployed_from_a_registry_in_another_workspace_is_read_in_the_registry(lab, runner):
    metrics = lab["folder"] / "registry-metrics.json"

    def challenge(model: Path, auc: float) -> int:  # CI: registers into the registry, the champion in production
        metrics.write_text(json.dumps({"auc": auc}))
        return call(register, lab, **{"model-name": "shared-champ", "model-path": str(model), "registry": "shared",
                                      "metrics-file": str(metrics), "metrics-gate": "auc >= champion.auc - 0.005",
                                      "champion-endpoint": "registry-prd", "champion-workspace": "production"})

    assert challenge(lab["v1"], 0.9) == 0
    reference = runner.outputs()["model-uri"]
    assert reference == "azureml://registries/shared/models/shared-champ/versions/1"
    assert call(deploy, lab, **{"endpoint-name": "registry-prd", "model-name": reference,
                                "workspace": "production"}) == 0
    assert challenge(lab["v2"], 0.8949) == 1  # below the registry version's metric.auc 0.9 - 0.005
    assert challenge(lab["v2"], 0.895) == 0 and runner.outputs()["model-version"] == "2"
    LocalBackend(lab["state"] / "workspaces" / "production").delete_endpoint("registry-prd")


def test_deploy_smoke_test_and_state_that_survives_the_process(lab, runner):
    assert call(deploy, lab, **{"endpoint-name": "survives", "model-name": "diabetes", "model-version": "1"}) == 0
    outputs = runner.outputs()
    assert (outputs["deployment-name"], outputs["previous-deployment"]) == ("blue", "")
    assert outputs["scoring-uri"].startswith("http://127.0.0.1:")
    assert smoke_test(lab, "survives") == 0
    assert runner.outputs()["passed"] == "true" and float(runner.outputs()["latency-p95-ms"]) > 0

    # A later job is a new process: it finds the endpoint in the state folder and it still answers.
    result = subprocess.run([sys.executable, "-m", "mlops_actions", "smoke-test", "--endpoint-name", "survives",
                             "--request-file", str(lab["request"]), "--state-dir", str(lab["state"]),
                             "--expected-output", "[0, 1]"], capture_output=True, text=True,
                            env={**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
                                 "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "output passed: true" in result.stdout


def test_safe_rollout_then_shift_traffic_and_retire(lab, runner, capsys):
    call(deploy, lab, **{"endpoint-name": "rollout", "model-name": "diabetes", "model-version": "1"})
    assert call(deploy, lab, **{"endpoint-name": "rollout", "model-name": "diabetes", "model-version": "2"}) == 0
    outputs = runner.outputs()
    assert (outputs["deployment-name"], outputs["previous-deployment"]) == ("green", "blue")
    backend = LocalBackend(lab["state"])
    assert backend.get_endpoint("rollout").traffic == {"blue": 100, "green": 0}

    # invoke: the answer and the deployment that gave it, by the traffic split or by name (even at 0%)
    capsys.readouterr()
    for named, answered in (("", "blue"), ("green", "green")):
        assert call(invoke, lab, **{"endpoint-name": "rollout", "request-file": str(lab["request"]),
                                    "deployment-name": named}) == 0
        out = capsys.readouterr().out
        answer = [line for line in out[:out.index("\nrollout: ")].splitlines() if not line.startswith("::")]
        assert json.loads("".join(answer)) == models.ANSWER  # printed inside a stop-commands block, on a runner
        assert f"rollout: HTTP 200 from deployment {answered}" in out and runner.outputs()["deployment"] == answered
    with pytest.raises(InputError, match="'purple': no such deployment of rollout \\(it has: blue, green\\)"):
        call(invoke, lab, **{"endpoint-name": "rollout", "request-file": str(lab["request"]),
                             "deployment-name": "purple"})

    # the new deployment at 0% is tested directly; the endpoint's clients still reach blue only
    assert smoke_test(lab, "rollout", **{"deployment-name": "green"}) == 0
    key = backend.key("rollout")
    body = lab["request"].read_bytes()
    assert {backend.invoke("rollout", body, None, key, 10)[2] for _ in range(10)} == {"blue"}
    assert backend.invoke("rollout", body, "green", key, 10)[2] == "green"

    assert call(traffic, lab, **{"endpoint-name": "rollout", "traffic": "blue=50,green=50"}) == 0
    assert backend.get_endpoint("rollout").traffic == {"blue": 50, "green": 50}
    answered = {backend.invoke("rollout", body, None, key, 10)[2] for _ in range(40)}
    assert answered == {"blue", "green"}

    blue = json.loads((lab["state"] / "endpoints/rollout/endpoint.json").read_text())["deployments"]["blue"]
    assert call(traffic, lab, **{"endpoint-name": "rollout", "traffic": "green", "retire": "true"}) == 0
    assert runner.outputs()["retired"] == "blue"
    assert backend.get_endpoint("rollout").traffic == {"green": 100}
    assert not processes.alive(blue["pid"], server_marker(blue))
    assert backend.invoke("rollout", body, None, key, 10)[:2] == (200, "[0, 1]")


def test_a_mirrored_deployment_gets_copies_nobody_sees_and_the_monitor_leaves_them_out(lab, runner):
    call(deploy, lab, **{"endpoint-name": "mirror", "model-name": "diabetes", "model-version": "1"})
    assert call(deploy, lab, **{"endpoint-name": "mirror", "model-name": "diabetes", "model-version": "2",
                                "mirror-percent": "50"}) == 0
    backend = LocalBackend(lab["state"])
    assert (backend.get_endpoint("mirror").traffic, backend.get_endpoint("mirror").mirror) == (
        {"blue": 100, "green": 0}, {"green": 50})
    key, body = backend.key("mirror"), lab["request"].read_bytes()
    assert {backend.invoke("mirror", body, None, key, 10)[2] for _ in range(40)} == {"blue"}
    assert {backend.invoke("mirror", body, "blue", key, 10)[2] for _ in range(10)} == {"blue"}  # named: no copy
    log = lab["state"] / "endpoints/mirror/requests.jsonl"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        copies = [entry for entry in entries if entry.get("mirror")]
        if len(entries) - len(copies) == 50 and len(copies) >= 5:
            break
        time.sleep(0.1)
    assert {entry["deployment"] for entry in copies} == {"green"} and 5 <= len(copies) <= 35
    from mlops_actions.monitor import served

    assert len(served(log, 0)[0]) == 50  # the requests clients sent, not the copies
    assert call(traffic, lab, **{"endpoint-name": "mirror", "traffic": "green", "retire": "true"}) == 0
    assert (backend.get_endpoint("mirror").traffic, backend.get_endpoint("mirror").mirror) == ({"green": 100}, {})


def test_answers_are_checked_against_a_schema_and_a_row_count(lab, runner, capsys):
    call(deploy, lab, **{"endpoint-name": "checks", "model-name": "diabetes", "model-version": "1"})
    schema = lab["folder"] / "schema.json"
    schema.write_text(json.dumps({"type": "array", "items": {"type": "integer", "enum": [0, 1]}}))
    assert smoke_test(lab, "checks", **{"response-schema": str(schema), "expected-output": ""}) == 0
    schema.write_text(json.dumps({"type": "array", "items": {"type": "string"}}))
    assert smoke_test(lab, "checks", **{"response-schema": str(schema), "expected-output": ""}) == 1
    assert re.search(r"answers failed: schema: [01] is not of type 'string'", capsys.readouterr().out)
    assert smoke_test(lab, "checks", **{"expected-rows": "3", "expected-output": ""}) == 1
    assert "2 predictions, expected 3" in capsys.readouterr().out
    assert smoke_test(lab, "checks", **{"expected-status": "201"}) == 1
    assert "status 200, expected 201" in capsys.readouterr().out


def test_a_cli_v2_deployment_file_with_a_scoring_script(lab, runner):
    """The Azure ML CLI v2 deployment YAML as the base spec; its code folder is relative to the file."""
    model, code = models.custom_model(lab["folder"] / "yaml", "return [0, 1]")
    call(register, lab, **{"model-name": "custom", "model-path": str(model), "model-type": "custom_model"})
    spec = lab["folder"] / "yaml" / "deployment.yml"
    spec.write_text("name: first\nendpoint_name: from-yaml\nmodel: azureml:custom:1\ninstance_count: 2\n"
                    "code_configuration:\n  code: code\n  scoring_script: score.py\n")
    assert call(deploy, lab, **{"deployment-file": str(spec)}) == 0
    assert {"endpoint-name": "from-yaml", "deployment-name": "first", "model-uri": "models:/custom/1"}.items() \
        <= runner.outputs().items()
    record = json.loads((lab["state"] / "endpoints/from-yaml/endpoint.json").read_text())
    assert record["deployments"]["first"]["instance_count"] == 2
    assert smoke_test(lab, "from-yaml") == 0


def test_a_failing_smoke_test_rolls_back_and_production_keeps_answering(lab, runner, capsys):
    call(deploy, lab, **{"endpoint-name": "rollback", "model-name": "diabetes", "model-version": "1"})
    model, code = models.custom_model(lab["folder"] / "wrong", "return [1, 1]")
    assert call(register, lab, **{"model-name": "wrong", "model-path": str(model), "model-type": "custom_model"}) == 0
    assert call(deploy, lab, **{"endpoint-name": "rollback", "model-name": "wrong", "code-path": str(code),
                                "scoring-script": "score.py", "traffic-percent": "100"}) == 0
    backend = LocalBackend(lab["state"])
    assert backend.get_endpoint("rollback").traffic == {"blue": 0, "green": 100}

    assert smoke_test(lab, "rollback", rollback="true", **{"previous-deployment": "blue"}) == 1
    outputs = runner.outputs()
    assert (outputs["passed"], outputs["failures"], outputs["rolled-back"]) == ("false", "5", "true")
    out = capsys.readouterr().out
    assert "5 of 5 answers failed: output differs from the expected [0, 1]" in out
    assert github.escape_data("Rolled back rollback: traffic returned to blue (100%); green deleted.") in out
    endpoint = backend.get_endpoint("rollback")
    assert endpoint.traffic == {"blue": 100} and list(endpoint.deployments) == ["blue"]
    assert backend.invoke("rollback", lab["request"].read_bytes(), None, backend.key("rollback"), 10)[:2] == \
        (200, "[0, 1]")


def test_a_deployment_that_cannot_start_leaves_nothing_behind(lab, runner):
    call(deploy, lab, **{"endpoint-name": "nostart", "model-name": "diabetes", "model-version": "1"})
    model, code = models.custom_model(lab["folder"] / "crash", "return []", "raise RuntimeError('no weights')")
    call(register, lab, **{"model-name": "crash", "model-path": str(model), "model-type": "custom_model"})
    with pytest.raises(ActionError, match="exited with code 3 after [0-9.]+ s; nothing was deployed and traffic is "
                                          "unchanged"):
        call(deploy, lab, **{"endpoint-name": "nostart", "model-name": "crash", "code-path": str(code),
                             "scoring-script": "score.py"})
    endpoint = LocalBackend(lab["state"]).get_endpoint("nostart")
    assert endpoint.traffic == {"blue": 100} and list(endpoint.deployments) == ["blue"]
    assert not (lab["state"] / "endpoints" / "nostart" / "green").exists()


def test_split_traffic_is_never_replaced_and_a_blind_rollback_touches_nothing(lab, runner, capsys):
    call(deploy, lab, **{"endpoint-name": "split", "model-name": "diabetes", "model-version": "1"})
    call(deploy, lab, **{"endpoint-name": "split", "model-name": "diabetes", "model-version": "2",
                         "traffic-percent": "50"})
    backend = LocalBackend(lab["state"])
    assert backend.get_endpoint("split").traffic == {"blue": 50, "green": 50}
    with pytest.raises(ActionError, match="deployment green takes 50% of split's traffic"):
        call(deploy, lab, **{"endpoint-name": "split", "model-name": "diabetes", "model-version": "1"})

    # a failing endpoint test with rollback but neither previous-deployment nor deployment-name: no guessing
    assert smoke_test(lab, "split", rollback="true", **{"expected-output": "[9, 9]"}) == 1
    assert runner.outputs()["rolled-back"] == "false"
    assert "Nothing was rolled back on split" in capsys.readouterr().out
    assert backend.get_endpoint("split").traffic == {"blue": 50, "green": 50}


def test_a_failed_redeploy_under_a_used_name_leaves_a_true_record(lab, runner):
    call(deploy, lab, **{"endpoint-name": "redeploy", "model-name": "diabetes", "model-version": "1"})
    call(deploy, lab, **{"endpoint-name": "redeploy", "model-name": "diabetes", "model-version": "2"})
    model, code = models.custom_model(lab["folder"] / "crash2", "return []", "raise RuntimeError('no weights')")
    call(register, lab, **{"model-name": "crash2", "model-path": str(model), "model-type": "custom_model"})
    with pytest.raises(ActionError, match="exited with code [0-9]+ after"):
        call(deploy, lab, **{"endpoint-name": "redeploy", "model-name": "crash2", "deployment-name": "green",
                             "code-path": str(code), "scoring-script": "score.py"})
    assert list(LocalBackend(lab["state"]).get_endpoint("redeploy").deployments) == ["blue"]
    with pytest.raises(ActionError, match="has no deployment green"):
        call(traffic, lab, **{"endpoint-name": "redeploy", "traffic": "green"})


def test_servers_get_no_secrets_and_the_key_file_is_private(lab, runner, monkeypatch):
    tmp_path = runner.workspace / "private"
    tmp_path.mkdir()
    for name in ("GITHUB_TOKEN", "AZURE_CLIENT_SECRET", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "INPUT_SECRET_THING",
                 "DB_PASS", "GH_PAT", "SNOWFLAKE_PWD", "HUGGINGFACE_HUB_TOKEN", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.setenv(name, f"do-not-leak-{name}")
    weights = tmp_path / "weights.bin"  # a custom model can be a single file
    weights.write_bytes(b"\x00\x01")
    assert call(register, lab, **{"model-name": "single-file", "model-path": str(weights),
                                  "model-type": "custom_model"}) == 0
    # the scoring script answers with its whole environment (the server's: gunicorn's setproctitle, where it is
    # installed, overwrites what /proc/<pid>/environ shows of it)
    _, code = models.custom_model(tmp_path / "serving", "return dict(__import__('os').environ)")
    assert call(deploy, lab, **{"endpoint-name": "private", "model-name": "single-file", "code-path": str(code),
                                "scoring-script": "score.py"}) == 0
    record_file = lab["state"] / "endpoints" / "private" / "endpoint.json"
    record = json.loads(record_file.read_text())
    assert record_file.stat().st_mode & 0o777 == 0o600
    router = Path(f"/proc/{record['router_pid']}/environ").read_bytes()
    assert b"do-not-leak" not in router and b"\0PATH=" in b"\0" + router
    backend = LocalBackend(lab["state"])
    status, text, _ = backend.invoke("private", b"{}", None, backend.key("private"), 30)
    server = json.loads(text)
    assert status == 200 and not [value for value in server.values() if "do-not-leak" in value]
    assert {"AZUREML_MODEL_DIR", "PATH"} <= set(server)  # what the server needs is there


def test_stopping_an_endpoint_stops_its_processes(lab, runner):
    call(deploy, lab, **{"endpoint-name": "stopme", "model-name": "diabetes"})
    record_file = lab["state"] / "endpoints/stopme/endpoint.json"
    record = json.loads(record_file.read_text())
    blue = record["deployments"]["blue"]
    pids = [(record["router_pid"], str(record_file)), (blue["pid"], server_marker(blue))]
    assert all(processes.alive(pid, marker) for pid, marker in pids)
    LocalBackend(lab["state"]).delete_endpoint("stopme")
    assert not any(processes.alive(pid, marker) for pid, marker in pids)
    assert "stopme" not in LocalBackend(lab["state"]).endpoints()


def test_an_endpoint_stopped_while_a_step_uses_it_is_a_clear_error(lab, runner):
    backend = LocalBackend(lab["state"])
    for use in (lambda: backend.key("stopped"), lambda: backend.delete_deployment("stopped", "blue"),
                lambda: backend.invoke("stopped", b"{}", None, "key", 5)):
        with pytest.raises(ActionError, match="endpoint stopped is not in .*: it was stopped while this step ran"):
            use()


def test_a_missing_model_stops_before_anything_is_deployed(lab, runner):
    with pytest.raises(ActionError, match="model diabetes version 99 is not in the local registry"):
        call(deploy, lab, **{"endpoint-name": "nomodel", "model-name": "diabetes", "model-version": "99"})
    assert LocalBackend(lab["state"]).get_endpoint("nomodel") is None


@pytest.mark.parametrize("job, flags, message", [
    (deploy, {"endpoint-name": "1-starts-with-a-digit", "model-name": "m"}, "not a valid Azure ML endpoint name"),
    (deploy, {"endpoint-name": "ends-with-", "model-name": "m"}, "not a valid Azure ML endpoint name"),
    (deploy, {"endpoint-name": "ok-name", "model-name": "m", "deployment-name": "x"},
     "not a valid Azure ML deployment name"),
    (deploy, {"endpoint-name": "ok-name", "model-name": 'x"; curl evil #'}, "not a valid model name"),
    (deploy, {"endpoint-name": "ok-name", "model-name": "m", "traffic-percent": "150"}, "not a whole number from"),
    (deploy, {"endpoint-name": "ok-name", "model-name": "m", "backend": "aws"}, "not one of local, azureml"),
    (register, {"model-name": "m", "model-path": "."}, "not an MLflow model \\(no MLmodel file in it\\)"),
    (register, {"model-name": "m", "model-path": "missing"}, "no such file or folder"),
    (register, {"model-name": "m$(touch pwned)", "model-path": "."}, "not a valid model name"),
    (register, {"model-name": "m", "model-path": "MODEL", "tags": "[a, b]"},
     "'tags' is '\\[a, b\\]': a list, not a map"),
    (register, {"model-name": "m", "model-path": "MODEL", "tags": "{a: [}"}, "not YAML or JSON"),
    (register, {"model-name": "m", "model-path": "MODEL", "metrics-gate": "accuracy >= 0.7"},
     "set without a metrics-file"),
    (smoke, {"endpoint-name": "ok-name", "request-file": "REQUEST_NOT_JSON"}, "'request-file' .*: not JSON"),
    (traffic, {"endpoint-name": "ok-name", "traffic": "blue=60,green=30"}, "the shares add up to 90, not 100"),
    (traffic, {"endpoint-name": "ok-name", "traffic": "blue=sixty"}, "'blue=sixty' is not name=percent"),
])
def test_bad_input_is_refused_and_nothing_changes(lab, tmp_path, monkeypatch, job, flags, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "REQUEST_NOT_JSON").write_text("{input_data: nope")
    flags = {key: str(lab["v1"]) if value == "MODEL" else value for key, value in flags.items()}
    registry = lab["state"] / "mlflow.db"
    before = registry.stat().st_mtime_ns if registry.exists() else None
    with pytest.raises(InputError, match=message):
        call(job, lab, **flags)
    assert (registry.stat().st_mtime_ns if registry.exists() else None) == before
    assert not (tmp_path / "pwned").exists()


def test_the_router_is_the_only_way_in_and_refuses_before_reading(lab, runner):
    import socket
    import stat
    from concurrent.futures import ThreadPoolExecutor

    call(deploy, lab, **{"endpoint-name": "guarded", "model-name": "diabetes", "model-version": "1"})
    record = json.loads((lab["state"] / "endpoints/guarded/endpoint.json").read_text())
    sock = Path(record["deployments"]["blue"]["socket"])  # no port: a unix socket in a folder of this user's alone
    assert "port" not in record["deployments"]["blue"] and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(lab["state"].stat().st_mode) == 0o700

    def raw(request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", record["port"]), timeout=5) as connection:
            connection.sendall(request)
            return connection.recv(4096)
    # a wrong key is refused at once, though the client announced a gigabyte it never sends
    assert raw(b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 1000000000\r\n\r\n"
               ).startswith(b"HTTP/1.1 401")
    key = record["key"].encode()
    assert raw(b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
               b"\r\nContent-Length: 1000000000\r\n\r\n").startswith(b"HTTP/1.1 413")

    chunked = (b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
               b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert raw(chunked + b"40000000\r\n").startswith(b"HTTP/1.1 413")  # a chunk past the cap, refused unread
    assert raw(chunked + b"zz\r\n").startswith(b"HTTP/1.1 400")
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", record["port"], timeout=10)
    halves = [lab["request"].read_bytes()[:20], lab["request"].read_bytes()[20:]]
    connection.request("POST", "/score", body=iter(halves), encode_chunked=True,
                       headers={"Authorization": f"Bearer {record['key']}", "Content-Type": "application/json"})
    assert connection.getresponse().status == 200  # a chunked body, as clients that stream send it
    connection.close()

    backend, body = LocalBackend(lab["state"]), lab["request"].read_bytes()
    with ThreadPoolExecutor(32) as pool:  # 32 clients at once: every request answered, none reset
        statuses = list(pool.map(lambda _: backend.invoke("guarded", body, None, record["key"], 30)[0], range(320)))
    assert statuses == [200] * 320
    assert stat.S_IMODE((lab["state"] / "endpoints/guarded/requests.jsonl").stat().st_mode) == 0o600


def test_two_deploys_to_one_endpoint_at_once_take_turns(lab, runner):
    import subprocess
    import sys

    def deploy_in_a_process(version):
        return subprocess.Popen([sys.executable, "-m", "mlops_actions", "deploy-endpoint", "--endpoint-name", "racing",
                                 "--model-name", "diabetes", "--model-version", version, "--state-dir",
                                 str(lab["state"])], cwd=runner.workspace, stdout=subprocess.PIPE, text=True,
                                env={k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")})
    first, second = deploy_in_a_process("1"), deploy_in_a_process("2")
    outputs = [process.communicate(timeout=300)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    names = sorted(re.search(r"output deployment-name: (\w+)", out)[1] for out in outputs)
    assert names == ["blue", "green"]  # the second deployed beside the first, not over it
    endpoint = LocalBackend(lab["state"]).get_endpoint("racing")
    assert sorted(endpoint.deployments) == ["blue", "green"] and sorted(endpoint.traffic.values()) == [0, 100]


def test_registrations_at_once_on_a_new_state_folder_all_succeed(tmp_path):
    import subprocess
    import sys

    state = tmp_path / "new-state"
    folders = [models.mlflow_model(tmp_path / f"m{i}", float(i + 1)) for i in range(4)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    processes_ = [subprocess.Popen([sys.executable, "-m", "mlops_actions", "register-model", "--model-name",
                                    "same" if i % 2 else f"m{i}", "--model-path", str(folder), "--state-dir",
                                    str(state)], cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True) for i, folder in enumerate(folders)]
    outputs = [process.communicate(timeout=300)[0] for process in processes_]
    assert [process.returncode for process in processes_] == [0] * 4, outputs[0][-3000:]
    versions = LocalBackend(state).client.search_model_versions("name='same'")
    assert sorted(int(v.version) for v in versions) == [1, 2]  # unique versions for one name


def test_a_registry_deleted_under_a_live_state_is_an_error_not_a_new_one(tmp_path):
    state = tmp_path / "state"
    LocalBackend(state).register_model("m", models.mlflow_model(tmp_path / "m", 1.0), "mlflow_model", "", {}, {},
                                       "hash")
    (state / "mlflow.db").unlink()
    with pytest.raises(ActionError, match="mlflow.db is gone while .* still has models or endpoints"):
        LocalBackend(state).get_model("m", "1")
    assert not (state / "mlflow.db").exists()


def test_a_cancelled_deploy_stops_the_server_it_started_and_leaves_no_record(lab, runner):
    import signal
    import subprocess
    import sys
    import time

    slow = runner.workspace / "slow"
    model, code = models.custom_model(slow, "return [0]", init_body="import time; time.sleep(60)")
    assert call(register, lab, **{"model-name": "slow", "model-path": str(model), "model-type": "custom_model"}) == 0
    deploying = subprocess.Popen([sys.executable, "-m", "mlops_actions", "deploy-endpoint", "--endpoint-name",
                                  "cancelled", "--model-name", "slow", "--code-path", str(code), "--scoring-script",
                                  "score.py", "--state-dir", str(lab["state"])], cwd=runner.workspace,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env={k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")})
    record_file = lab["state"] / "endpoints/cancelled/endpoint.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the server is started and recorded
        record = json.loads(record_file.read_text()) if record_file.exists() else {}
        if record.get("deployments", {}).get("blue", {}).get("state") == "starting":
            break
        time.sleep(0.1)
    server = record["deployments"]["blue"]
    deploying.send_signal(signal.SIGTERM)  # what a cancelled job gets
    out = deploying.communicate(timeout=60)[0]
    assert deploying.returncode == 130 and "was interrupted; what it had started was stopped" in out
    assert not processes.alive(server["pid"], server_marker(server))
    assert json.loads(record_file.read_text())["deployments"] == {}


def test_a_dead_router_is_started_again_and_a_corrupt_record_can_still_be_stopped(lab, runner):
    import signal
    import time

    from mlops_actions import endpoints

    call(deploy, lab, **{"endpoint-name": "fragile", "model-name": "diabetes", "model-version": "1"})
    record_file = lab["state"] / "endpoints/fragile/endpoint.json"
    record = json.loads(record_file.read_text())
    os.kill(record["router_pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert call(traffic, lab, **{"endpoint-name": "fragile", "traffic": "blue"}) == 0  # detected, restarted
    backend = LocalBackend(lab["state"])
    assert backend.invoke("fragile", lab["request"].read_bytes(), None, record["key"], 10)[0] == 200

    record_file.write_text('{"name": "fragile", "tru')  # a disk that filled mid-write
    with pytest.raises(ActionError, match="endpoint.json cannot be read .*endpoints --stop fragile"):
        call(traffic, lab, **{"endpoint-name": "fragile", "traffic": "blue"})
    server = record["deployments"]["blue"]
    assert call(endpoints, lab, stop="fragile") == 0
    deadline = time.monotonic() + 10
    while processes.alive(server["pid"], server_marker(server)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes.alive(server["pid"], server_marker(server)) and not record_file.exists()


def test_the_request_log_rotates_and_a_log_that_cannot_be_written_costs_a_warning(tmp_path, capsys):
    from mlops_actions.backends.router import RequestLog
    from mlops_actions.monitor import served

    log = RequestLog(tmp_path / "requests.jsonl", rotate_bytes=600)
    body = json.dumps({"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}).encode()
    for _ in range(10):
        log.add("blue", 200, 1.0, body, False)
    assert (tmp_path / "requests.jsonl.1").is_file() and (tmp_path / "requests.jsonl").stat().st_size <= 600
    with open(tmp_path / "requests.jsonl", "a") as out:
        out.write('{"time": 1, "dep')  # cut off mid-line
    entries, rows = served(tmp_path / "requests.jsonl", 0)
    assert len(entries) == len(rows) >= 4 and "not request entries and were skipped" in capsys.readouterr().out
    blocked = RequestLog(tmp_path / "a-folder")
    (tmp_path / "a-folder").mkdir()  # cannot be opened as a file: like a read-only or full disk
    blocked.add("blue", 200, 1.0, body, False)
    blocked.add("blue", 200, 1.0, body, False)
    assert capsys.readouterr().err.count("cannot write") == 1


def test_a_state_folder_whose_path_holds_percent_signs_is_used_as_named(tmp_path):
    state = tmp_path / "state %0A 100%"  # SQLAlchemy would read %0A as a line break if the URI were not quoted
    LocalBackend(state).register_model("m", models.mlflow_model(tmp_path / "m", 1.0), "mlflow_model", "", {}, {},
                                       "hash")
    assert (state / "mlflow.db").is_file() and LocalBackend(state).get_model("m", "1").version == "1"


AZURE_SAMPLE_SCORE = '''import json
import os

import joblib
import numpy


def init():
    global model
    # as azureml-examples' endpoints/online/model-1/onlinescoring/score.py reads a model registered as a folder
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "{relative}"))


def run(raw_data):
    data = numpy.array(json.loads(raw_data)["data"])
    return model.predict(data).tolist()
'''


@pytest.mark.parametrize("registered, relative", [
    ("model", "model/sklearn_regression_model.pkl"),  # a folder keeps its name under AZUREML_MODEL_DIR
    ("model/sklearn_regression_model.pkl", "sklearn_regression_model.pkl"),  # a file sits at its root
])
def test_a_custom_model_is_read_through_azureml_model_dir_as_azure_lays_it_out(lab, runner, registered, relative):
    import joblib
    from sklearn.linear_model import Ridge

    folder = lab["folder"] / f"sample-{len(relative)}"
    (folder / "model").mkdir(parents=True)
    (folder / "onlinescoring").mkdir()
    rows = [[1.0, 2.0], [3.0, 5.0], [4.0, 1.0]]
    ridge = Ridge().fit(rows, [1.0, 2.0, 3.0])
    joblib.dump(ridge, folder / "model" / "sklearn_regression_model.pkl")
    (folder / "onlinescoring" / "score.py").write_text(AZURE_SAMPLE_SCORE.replace("{relative}", relative))
    (folder / "request.json").write_text(json.dumps({"data": rows}))
    name = f"sample-{len(relative)}"
    register_model(lab, runner, folder / registered, name=name, **{"model-type": "custom_model"})
    assert call(deploy, lab, **{"endpoint-name": name, "model-name": name, "code-path": str(folder / "onlinescoring"),
                                "scoring-script": "score.py", "traffic-percent": "100"}) == 0
    expected = json.dumps(ridge.predict(rows).tolist())
    assert call(smoke, lab, **{"endpoint-name": name, "request-file": str(folder / "request.json"), "requests": "2",
                               "expected-output": expected}) == 0


CLI_SCORE = '''import json
import os
import time


def init():
    global weights
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.txt")) as handle:
        weights = handle.read().strip()


def run(raw):
    time.sleep(json.loads(raw).get("sleep", 0))
    return {"greeting": os.environ.get("GREETING"), "weights": weights}
'''

CLI_DEPLOYMENT = '''$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: cli-yaml
model:
  path: model
code_configuration:
  code: onlinescoring
  scoring_script: score.py
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
environment_variables:
  GREETING: hello
request_settings:
  request_timeout_ms: 1500
  max_concurrent_requests_per_instance: 1
instance_type: Standard_DS3_v2
instance_count: 1
liveness_probe:
  initial_delay: 10
'''


def test_a_cli_v2_deployment_file_as_the_azure_ml_cli_reads_it(lab, runner, capsys):
    """An inline model (registered first, relative to the file), environment_variables and request_settings
    honoured by the local router; what the local backend cannot honour named in a warning."""
    from concurrent.futures import ThreadPoolExecutor

    folder = lab["folder"] / "cli-yaml"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text("0.5\n")
    (folder / "onlinescoring").mkdir()
    (folder / "onlinescoring" / "score.py").write_text(CLI_SCORE)
    (folder / "deployment.yml").write_text(CLI_DEPLOYMENT)
    assert call(deploy, lab, **{"deployment-file": str(folder / "deployment.yml")}) == 0
    out = capsys.readouterr().out
    assert "The local backend does not honour environment, instance_type, liveness_probe of" in out
    assert runner.outputs()["model-uri"] == "models:/cli-yaml/1"  # the inline model, named after the endpoint
    backend = LocalBackend(lab["state"])
    key = backend.key("cli-yaml")
    status, text, _ = backend.invoke("cli-yaml", b"{}", None, key, 10)
    assert (status, json.loads(text)) == (200, {"greeting": "hello", "weights": "0.5"})
    assert backend.invoke("cli-yaml", b'{"sleep": 3}', None, key, 10)[0] == 408  # past request_timeout_ms
    time.sleep(2)  # the slow request's worker is free again
    failed = urllib.request.Request(backend.get_endpoint("cli-yaml").scoring_uri, data=b'{"sleep": "x"}',
                                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:  # the scoring script raised: the server's 500 is a 424
        urllib.request.urlopen(failed, timeout=10)
    assert (caught.value.code, caught.value.headers["ms-azureml-model-error-statuscode"]) == (424, "500")
    assert "(model status 500)" in json.loads(caught.value.read())["message"]
    time.sleep(2)  # the slow request's worker is free again
    with ThreadPoolExecutor(4) as pool:  # 2 x 1 per instance x 1 instance in parallel; the rest refused
        statuses = sorted(pool.map(lambda _: backend.invoke("cli-yaml", b'{"sleep": 1}', None, key, 10)[0], range(4)))
    assert statuses.count(429) >= 1 and 200 in statuses, statuses

    # the same file again: the same inline model is the same version, @latest reads as the CLI reads it
    (folder / "latest.yml").write_text(CLI_DEPLOYMENT.replace("name: blue", "name: green").replace(
        "model:\n  path: model\n", "model: azureml:cli-yaml@latest\n"))
    assert call(deploy, lab, **{"deployment-file": str(folder / "latest.yml")}) == 0
    assert runner.outputs()["model-uri"] == "models:/cli-yaml/1"


@pytest.mark.parametrize("change, message", [
    (("model:\n  path: model\n", "model: azureml:cli-yaml@production\n"), "is not a model reference this action"),
    (("model:\n  path: model\n", "model:\n  path: missing\n"), "'missing' does not exist next to it"),
    (("model:\n  path: model\n", "model:\n  path: ../../../../etc\n"), "outside the workspace"),
    (("GREETING: hello", "1GREETING: hello"), "names a process cannot take"),
    (("request_timeout_ms: 1500", "request_timeout_ms: -1"), "request_settings.request_timeout_ms is -1"),
    (("request_timeout_ms: 1500", "request_timeout_ms: 10000000000000"), "not a whole number from 1 to 3600000"),
    (("GREETING: hello", "GREETING: [a, b]"), "environment_variables.GREETING is not a value a process can take"),
    (("GREETING: hello", 'GREETING: "a\\0b"'), "environment_variables.GREETING is not a value a process can take"),
    (("code_configuration:\n  code: onlinescoring\n  scoring_script: score.py\n", ""),
     "its inline custom_model has no code_configuration"),
    (("code_configuration:\n  code: onlinescoring\n  scoring_script: score.py\n", "code_configuration: x\n"),
     "its code_configuration is not a mapping"),
    (("  path: model\n", "  path: model\n  type: mlflow_model\n"), "has no MLmodel file"),
])
def test_a_deployment_file_azure_would_refuse_is_an_input_error(lab, runner, change, message):
    folder = lab["folder"] / "cli-yaml-bad"
    (folder / "model").mkdir(parents=True, exist_ok=True)
    (folder / "model" / "weights.txt").write_text("0.5\n")
    (folder / "onlinescoring").mkdir(exist_ok=True)
    (folder / "onlinescoring" / "score.py").write_text(CLI_SCORE)
    (folder / "deployment.yml").write_text(CLI_DEPLOYMENT.replace(*change))
    with pytest.raises(InputError, match=message):
        call(deploy, lab, **{"deployment-file": str(folder / "deployment.yml")})


# azureml-examples: cli/endpoints/online/model-1/environment/conda.yaml and managed/sample/blue-deployment.yml, as
# they are written there (the deployment's paths point into a model-1 folder beside managed/)
SAMPLE_CONDA = """name: model-env
channels:
  - conda-forge
dependencies:
  - python=3.9
  - numpy=1.23.5
  - pip=23.0.1
  - scikit-learn=1.2.2
  - scipy=1.10.1
  - pip:
    - azureml-inference-server-http==1.4.0
    - inference-schema[numpy-support]
    - joblib
"""
SAMPLE_DEPLOYMENT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: my-endpoint
model:
  path: ../../model-1/model/
code_configuration:
  code: ../../model-1/onlinescoring/
  scoring_script: score.py
environment:
  conda_file: ../../model-1/environment/conda.yaml
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
instance_type: Standard_DS3_v2
instance_count: 1
"""
VERSIONS_SCORE = '''import json
import os
import shutil
import sys

import numpy
import sklearn


def init():
    global weights
    weights = numpy.loadtxt(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.txt"))


def run(raw):
    data = numpy.array(json.loads(raw)["data"])
    return {"predictions": (data @ weights).tolist(), "python": "%d.%d" % sys.version_info[:2],
            "numpy": numpy.__version__, "sklearn": sklearn.__version__, "python_on_path": shutil.which("python")}
'''


def sample_layout(folder: Path, conda: str) -> Path:
    for part in ("model-1/model", "model-1/onlinescoring", "model-1/environment", "managed/sample"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    (folder / "model-1/model/weights.txt").write_text("0.5\n2.0\n")
    (folder / "model-1/onlinescoring/score.py").write_text(VERSIONS_SCORE)
    (folder / "model-1/environment/conda.yaml").write_text(conda)
    (folder / "managed/sample/blue-deployment.yml").write_text(SAMPLE_DEPLOYMENT)
    return folder / "managed/sample/blue-deployment.yml"


def test_the_deployment_runs_in_the_environment_its_conda_file_declares_built_once(lab, runner, capsys):
    """Azure's sample conda file (Python 3.9, numpy 1.23.5, scikit-learn 1.2.2) served from a venv of its own."""
    from mlops_actions.backends import environments

    deployment = sample_layout(lab["folder"] / "sample-env", SAMPLE_CONDA)
    assert call(deploy, lab, **{"deployment-file": str(deployment)}) == 0
    out = capsys.readouterr().out
    assert "does not honour instance_type, environment.image of" in out  # the conda file is honoured, not the image
    backend = LocalBackend(lab["state"])
    status, text, _ = backend.invoke("my-endpoint", json.dumps({"data": [[1.0, 1.0], [2.0, 0.0]]}).encode(), None,
                                     backend.key("my-endpoint"), 30)
    answer = json.loads(text)
    assert status == 200 and answer["predictions"] == [2.5, 1.0]
    assert (answer["numpy"], answer["sklearn"]) == ("1.23.5", "1.2.2")  # not the runner's numpy 2 and sklearn 1.9
    if environments.interpreter("3.9"):
        assert answer["python"] == "3.9"
    else:  # a machine without Python 3.9 says so, and serves with its own
        assert "asks for Python 3.9, which this machine does not have" in out
    built = sorted((lab["state"] / "environments").glob("*/.complete"))
    assert len(built) == 1
    assert answer["python_on_path"] == str(built[0].parent / "bin" / "python")  # what the script starts is the venv's

    # the same file again: the environment is reused, not built again
    stamp = built[0].stat().st_mtime_ns
    (deployment.parent / "green.yml").write_text(deployment.read_text().replace("name: blue", "name: green"))
    assert call(deploy, lab, **{"deployment-file": str(deployment.parent / "green.yml")}) == 0
    assert sorted((lab["state"] / "environments").glob("*/.complete")) == built
    assert built[0].stat().st_mtime_ns == stamp
    assert "Environment of" not in capsys.readouterr().out


def test_an_environment_pip_cannot_build_deploys_nothing_and_a_conda_only_package_is_a_warning(lab, runner, capsys):
    python = "%d.%d" % sys.version_info[:2]
    server = f"azureml-inference-server-http=={environments_version()}"
    conda = f"dependencies:\n  - python={python}\n  - cudatoolkit=11.8\n  - pip\n  - pip:\n    - {server}\n" \
            "    - mlops-actions-no-such-package==1.0\n"
    deployment = sample_layout(lab["folder"] / "conda-only", conda)
    deployment.write_text(deployment.read_text().replace("my-endpoint", "conda-only"))
    with pytest.raises(ActionError) as caught:  # Azure's image build fails on it, and so does this
        call(deploy, lab, **{"deployment-file": str(deployment)})
    assert "pip could not install the packages of ../../model-1/environment/conda.yaml" in str(caught.value)
    assert "mlops-actions-no-such-package" in str(caught.value) and "cudatoolkit" not in str(caught.value)
    out = capsys.readouterr().out
    assert "the conda package 'cudatoolkit==11.8.*' is not on the package index pip uses: left out" in out
    assert LocalBackend(lab["state"]).get_endpoint("conda-only").deployments == {}  # nothing was deployed
    built = lab["state"] / "environments"
    folders = [path for path in built.iterdir() if path.is_dir()]  # beside the builds' lock files
    assert sorted(built.glob("*/.complete")) == sorted(path / ".complete" for path in folders), \
        "a failed build leaves no folder"


def environments_version() -> str:
    from importlib import metadata

    return metadata.version("azureml-inference-server-http")
