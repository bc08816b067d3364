"""The example project's pull-request workflow, through act, using this checkout as OWNER/mlops-actions@v1."""

from pathlib import Path

import pytest

from mlops_actions import act

pytestmark = pytest.mark.act
ROOT = Path(__file__).resolve().parents[1]
EVENT = {"pull_request": {"number": 7, "head": {"ref": "feature"}, "base": {"ref": "main"}}, "number": 7}


def run_pull_request(tmp_path, change=None):
    repo = act.copy_repository(ROOT / "example-project", tmp_path / "repo")
    if change:
        file, text = change
        with open(repo / file, "a") as handle:
            handle.write(text)
    run = act.run("pull_request", ".github/workflows/pull-request.yml", repo, payload=EVENT,
                  repositories={"OWNER/mlops-actions@v1": ROOT},
                  env={"MLOPS_ACTIONS_ARTIFACTS": str(tmp_path / "artifacts")})
    return run, run.jobs["Lint and unit tests"]


def test_the_example_passes_its_own_pull_request_check(tmp_path):
    run, job = run_pull_request(tmp_path)
    assert run.returncode == 0 and job.result == "succeeded", "\n".join(job.lines[-50:])
    assert job.annotations == []
    assert job.outputs["violations"] == "0" and job.outputs["failed"] == "0"
    assert int(job.outputs["passed"]) >= 8 and float(job.outputs["coverage"]) >= 80
    assert (tmp_path / "artifacts" / "test-results" / "junit.xml").is_file()  # kept by the upload step


def test_a_pull_request_that_breaks_lint_and_a_test_is_rejected_with_both(tmp_path):
    source = (ROOT / "example-project" / "src" / "model" / "train.py").read_text()
    lines = source.count("\n")
    run, job = run_pull_request(tmp_path, ("src/model/train.py", "x=1\n"))
    assert run.returncode != 0 and job.result == "failed"
    assert [(a.file, a.line, a.title) for a in job.annotations] == [("src/model/train.py", lines + 1, "flake8 E225")]

    failing_test = ("tests/test_data.py", "\n\ndef test_wrong():\n    assert 1 == 2\n")
    run, job = run_pull_request(tmp_path / "again", failing_test)
    assert job.result == "failed"
    [failure] = job.annotations
    assert (failure.file, failure.title, failure.message) == (
        "tests/test_data.py", "Test failed: tests/test_data.py::test_wrong", "assert 1 == 2")
    assert failure.line == (ROOT / "example-project/tests/test_data.py").read_text().count("\n") + 4
