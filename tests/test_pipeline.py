"""The README's main command end to end: the example project's generated workflows through act, offline,
with the local backend, from pull request to production, and its unhappy paths."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_actions.backends.local import LocalBackend

pytestmark = [pytest.mark.act, pytest.mark.pipeline]
ROOT = Path(__file__).resolve().parents[1]


def demo(tmp_path, *args):
    """scripts/demo.py in a folder of its own; returns its exit code, output and report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(MLOPS_DEMO_DIR=str(tmp_path / "demo"), PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), *args], env=env,
                            capture_output=True, text=True, timeout=900)
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    return result, report


@pytest.fixture
def stop_after(tmp_path):
    yield
    state = tmp_path / "demo" / "state"
    if state.exists():
        for name in LocalBackend(state).endpoints():
            LocalBackend(state).delete_endpoint(name)


def stages(report):
    return [(stage["name"], stage["outcome"]) for stage in report["stages"]]


RELEASE = [("Pull request: Lint and unit tests", "passed"), ("Push to main: Lint and unit tests", "passed"),
           ("Push to main: Train and register the model", "passed"),
           ("Push to main: CD/Deploy to staging", "passed"), ("Push to main: CD/Deploy to production", "passed")]


def test_a_bad_release_is_rolled_back_and_production_keeps_the_good_one(tmp_path, stop_after):
    """--break smoke: a good release reaches production; then a model with a training/serving skew passes
    review, tests and the metrics gate, fails its smoke test in staging, and is rolled back."""
    result, report = demo(tmp_path, "--break", "smoke")
    assert result.returncode == 0 and report["ok"], result.stdout[-3000:]
    assert stages(report) == RELEASE + [
        ("Pull request: Lint and unit tests", "passed"), ("Push to main: Lint and unit tests", "passed"),
        ("Push to main: Train and register the model", "passed"), ("Push to main: CD/Deploy to staging", "failed")]
    staging = report["stages"][-1]["notes"]
    assert staging[0].startswith("error: [Smoke test of diabetes-staging/green failed] 20 of 20 answers failed: "
                                 "output differs from the expected [0, 1] (first: status 200, body '[1, 1]')")
    assert staging[1] == "warning: [Rollback] Rolled back diabetes-staging: traffic returned to blue (100%); green " \
                         "deleted."
    assert report["versions"] == ["1", "2"]  # the bad model was registered, and never reached production
    assert report["production"]["model"] == "models:/diabetes-classifier/1"
    assert report["production"]["answer"] == "200 [0, 1]"
    assert "The endpoints keep serving; stop them with: scripts/demo stop" in result.stdout

    # the endpoint answers a request of our own, then the stop command ends it
    state = tmp_path / "demo" / "state"
    backend = LocalBackend(state)
    body = (ROOT / "example-project" / "tests" / "sample-request.json").read_bytes()
    assert backend.invoke("diabetes-production", body, None, backend.key("diabetes-production"), 10)[:2] == \
        (200, "[0, 1]")
    env = {**os.environ, "MLOPS_DEMO_DIR": str(tmp_path / "demo"), "PYTHONPATH": str(ROOT / "src")}
    stopped = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "stop"], env=env,
                             capture_output=True, text=True)
    assert "stopped diabetes-production" in stopped.stdout and backend.endpoints() == []


def test_the_pipeline_then_monitoring_passes_normal_traffic_and_catches_a_shift(tmp_path, stop_after):
    result, report = demo(tmp_path)
    assert result.returncode == 0 and report["ok"], result.stdout[-3000:]
    assert stages(report) == RELEASE + [("Monitor, normal traffic: Monitor production", "passed"),
                                        ("Monitor, shifted traffic (glucose +45): Monitor production", "failed")]
    normal, shifted = report["drift"]["normal traffic"], report["drift"]["shifted traffic (glucose +45)"]
    assert all(figures["psi"] < 0.2 and figures["ks"] < 0.2 for figures in normal.values())
    assert shifted["PlasmaGlucose"]["psi"] > 0.2 and shifted["PlasmaGlucose"]["ks"] > 0.2
    assert [name for name, figures in shifted.items() if figures["psi"] > 0.2] == ["PlasmaGlucose"]
    assert report["stages"][-1]["notes"] == ["error: [Monitoring alert] diabetes-production: drift in "
                                             "PlasmaGlucose."]


@pytest.mark.parametrize("breaking, annotation", [
    ("lint", ("src/model/train.py", 20, "flake8 E203")),
    ("test", ("tests/test_data.py", 17, "Test failed: tests/test_data.py::test_shipped_dataset_is_the_generated_one")),
])
def test_a_pull_request_that_breaks_lint_or_a_test_is_rejected(tmp_path, breaking, annotation):
    result, report = demo(tmp_path, "--break", breaking)
    assert result.returncode == 0 and report["ok"], result.stdout[-3000:]
    assert stages(report) == [("Pull request: Lint and unit tests", "failed")]
    file, line, title = annotation
    assert report["stages"][0]["notes"][0].startswith(f"error: {file}:{line} [{title}]")
    assert report["versions"] == [] and report["production"]["uri"] == ""


def test_a_model_below_the_metrics_gate_is_not_registered(tmp_path, stop_after):
    result, report = demo(tmp_path, "--break", "gate")
    assert result.returncode == 0 and report["ok"], result.stdout[-3000:]
    assert stages(report) == RELEASE[:2] + [("Push to main: Train and register the model", "failed")]
    assert report["stages"][-1]["notes"][0] == ("error: [Metrics gate] The metrics gate failed: accuracy >= 0.7 is "
                                                "not met (accuracy = 0.6317); nothing was registered.")
    assert report["versions"] == [] and report["production"]["uri"] == ""


def test_production_can_be_held(tmp_path, stop_after):
    result, report = demo(tmp_path, "--hold-production")
    assert result.returncode == 0 and report["ok"], result.stdout[-3000:]
    assert stages(report) == RELEASE[:4]  # production did not run
    assert report["production"]["uri"] == ""
    assert LocalBackend(tmp_path / "demo" / "state").endpoints() == ["diabetes-staging"]
