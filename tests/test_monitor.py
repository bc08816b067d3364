"""The monitor on the local backend: requests the endpoint really served, against training data."""

import json

import numpy as np
import pandas as pd
import pytest

import models
from conftest import as_runner
from mlops_actions import deploy, monitor, register
from mlops_actions.backends.local import LocalBackend
from mlops_actions.inputs import InputError, Inputs


def call(job, state, **flags):
    return job.run(Inputs.read(job.INPUTS, {"state-dir": str(state), **flags}, environ={}))


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A deployed model and its training data (glucose, bmi); the endpoint is stopped at the end."""
    folder = tmp_path_factory.mktemp("monitor")
    state = folder / "state"
    call(register, state, **{"model-name": "m", "model-path": str(models.mlflow_model(folder / "model"))})
    call(deploy, state, **{"endpoint-name": "watched", "model-name": "m"})
    rng = np.random.default_rng(0)
    training = pd.DataFrame({"glucose": rng.normal(110, 25, 2000).round(), "bmi": rng.normal(30, 6, 2000).round(1)})
    training.to_csv(folder / "training.csv", index=False)
    yield {"state": state, "folder": folder, "rng": rng}
    LocalBackend(state).delete_endpoint("watched")


@pytest.fixture
def runner(endpoint, monkeypatch, tmp_path):
    """A runner whose workspace is the endpoint's folder: the training data is in the repository."""
    return as_runner(monkeypatch, tmp_path, endpoint["folder"])


def send(endpoint, glucose_shift: float, requests: int = 40) -> None:
    backend = LocalBackend(endpoint["state"])
    key = backend.key("watched")
    for _ in range(requests):
        rows = [[float(round(endpoint["rng"].normal(110 + glucose_shift, 25))),
                 float(round(endpoint["rng"].normal(30, 6), 1))] for _ in range(5)]
        body = json.dumps({"input_data": {"columns": ["glucose", "bmi"], "index": list(range(5)), "data": rows}})
        assert backend.invoke("watched", body.encode(), None, key, 10)[0] == 200


def watch(endpoint, runner, **flags):
    return call(monitor, endpoint["state"], **{
        "endpoint-name": "watched", "training-data": str(endpoint["folder"] / "training.csv"),
        "chart": str(endpoint["folder"] / "chart.png"), **flags})


def report(endpoint):
    return json.loads((endpoint["folder"] / "chart.json").read_text())


def test_normal_traffic_shows_no_drift_then_shifted_traffic_does(endpoint, runner):
    send(endpoint, glucose_shift=0)
    assert watch(endpoint, runner) == 0
    normal = {row["feature"]: row for row in report(endpoint)["features"]}
    assert normal["glucose"]["psi"] < 0.1 and normal["bmi"]["psi"] < 0.1
    assert runner.outputs()["drifted"] == "" and runner.outputs()["requests"] == "40"
    assert (endpoint["folder"] / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    send(endpoint, glucose_shift=45, requests=120)  # the population changes: much higher glucose
    assert watch(endpoint, runner, **{"window-hours": "1"}) == 1
    shifted = {row["feature"]: row for row in report(endpoint)["features"]}
    assert shifted["glucose"]["psi"] > 0.2 and shifted["glucose"]["ks"] > 0.2 and shifted["glucose"]["drift"]
    assert not shifted["bmi"]["drift"]
    assert runner.outputs()["drifted"] == "glucose" and runner.outputs()["error-rate"] == "0.0"
    assert "🚨 Monitoring `watched`: drift in glucose" in runner.summary()
    assert watch(endpoint, runner, **{"fail-on-alert": "false"}) == 0  # report only


@pytest.mark.parametrize("flags, message", [
    ({"psi-threshold": "1.5"}, "'psi-threshold' is '1.5': not a number from 0 to 1"),
    ({"ks-threshold": "-0.1"}, "'ks-threshold' is '-0.1': not a number from 0 to 1"),
    ({"max-error-rate": "5"}, "'max-error-rate' is '5': not a number from 0 to 1"),
    ({"training-data": "missing.csv"}, "'training-data' is 'missing.csv': no such file"),
])
def test_bad_thresholds_and_inputs_are_refused(endpoint, runner, flags, message):
    with pytest.raises(InputError, match=message):
        watch(endpoint, runner, **flags)


def test_training_data_that_shares_no_column_is_an_error_not_no_drift(endpoint, runner):
    send(endpoint, 0, requests=5)
    (endpoint["folder"] / "other.csv").write_text("age,weight\n30,70\n40,80\n")
    with pytest.raises(InputError, match="'training-data' is 'other.csv': no column in common with what watched "
                                         "served \\(glucose, bmi\\)"):
        watch(endpoint, runner, **{"training-data": "other.csv"})


def test_a_categorical_column_is_left_out_with_a_notice(endpoint, runner, capsys):
    send(endpoint, 0, requests=5)
    training = pd.read_csv(endpoint["folder"] / "training.csv")
    training.assign(glucose=training.glucose.astype(int).astype(str) + " mg/dL").to_csv(
        endpoint["folder"] / "labelled.csv", index=False)
    watch(endpoint, runner, **{"training-data": "labelled.csv", "min-requests": "1"})
    assert "glucose are not numeric and are not compared for drift" in capsys.readouterr().out
    assert [row["feature"] for row in json.loads(open(runner.outputs()["report"]).read())["features"]] == ["bmi"]


def test_only_categorical_columns_in_common_is_an_error_not_no_drift(endpoint, runner):
    send(endpoint, 0, requests=5)
    training = pd.read_csv(endpoint["folder"] / "training.csv")
    training.assign(glucose=training.glucose.astype(str) + " mg/dL", bmi=training.bmi.astype(str) + " kg/m2").to_csv(
        endpoint["folder"] / "all-labelled.csv", index=False)
    with pytest.raises(InputError, match="no numeric column in common with what watched served"):
        watch(endpoint, runner, **{"training-data": "all-labelled.csv", "min-requests": "1"})


def test_features_named_before_anything_was_served_in_the_window_are_too_few_to_judge(endpoint, runner, capsys):
    assert watch(endpoint, runner, features="glucose, bmi", **{"window-hours": "0.0000001"}) == 0
    assert "served 0 requests, fewer than min-requests 30: too few to judge" in capsys.readouterr().out


@pytest.mark.parametrize("schedule", ["0 6 * *", "61 6 * * *", "0 6 * * 7", "@daily"])
def test_an_invalid_cron_schedule_is_refused(endpoint, runner, schedule):
    with pytest.raises(InputError, match="'schedule' is .*not a cron expression"):
        watch(endpoint, runner, schedule=schedule, backend="azureml", **{"training-data": "azureml:data:1",
                                                                         "subscription-id": "s", "resource-group": "r",
                                                                         "workspace": "w"})


def test_what_stops_the_monitor_exits_2_not_the_drift_code(endpoint, runner, capsys):
    """Exit 1 means drift (or errors, latency) was found; a monitor that could not look is exit 2."""
    from mlops_actions import cli

    (endpoint["folder"] / "binary.csv").write_bytes(b"\xff\xfe\x00\x01" * 100)
    base = ["monitor", "--state-dir", str(endpoint["state"]), "--chart", str(endpoint["folder"] / "c.png")]
    assert cli.main([*base, "--endpoint-name", "absent", "--training-data", "training.csv"]) == 2
    assert "endpoint absent does not exist in" in capsys.readouterr().out
    assert cli.main([*base, "--endpoint-name", "watched", "--training-data", "binary.csv"]) == 2
    assert "input 'training-data' is 'binary.csv': not a CSV pandas can read" in capsys.readouterr().out
