"""The self-test workflow, run through act: the composite actions really execute, as on a runner."""

import re
import subprocess
import time
from pathlib import Path

import pytest

from mlops_actions import act
from mlops_actions.act import Annotation

pytestmark = pytest.mark.act
ROOT = Path(__file__).resolve().parents[1]

PR_EVENT = {"pull_request": {"number": 1, "head": {"ref": "feature"}, "base": {"ref": "main"}}}
JOBS = {"Lint action", "Unit-test action", "PR check (root action)", "Bad input is refused",
        "Model lifecycle (local backend)"}
VIOLATIONS = [  # tests/fixtures/lint-violations, under its own max-line-length = 100
    ("bad.py", 1, 1, "F401", "'os' imported but unused"),
    ("bad.py", 5, 6, "E225", "missing whitespace around operator"),
    ("bad.py", 7, 1, "E305", "expected 2 blank lines after class or function definition, found 0"),
    ("bad.py", 7, 101, "E501", "line too long (102 > 100 characters)"),
]


@pytest.fixture(scope="module")
def self_test(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")  # the local backend's, instead of ~/.mlops-actions/state
    return act.run("pull_request", ".github/workflows/self-test.yml", ROOT, payload=PR_EVENT,
                   env={"MLOPS_ACTIONS_STATE": str(state)})


def test_every_job_ran_and_passed_its_checks(self_test):
    assert self_test.returncode == 0, self_test.output[-3000:]
    assert set(self_test.jobs) == JOBS
    for name, job in self_test.jobs.items():
        assert job.result == "succeeded", f"{name}:\n" + "\n".join(job.lines[-40:])
    checks = [line for job in self_test.jobs.values() for line in job.lines if "| ok: " in line]
    assert len(checks) == 39


def test_lint_annotates_exactly_the_violations(self_test):
    job = self_test.jobs["Lint action"]
    expected = [Annotation(level, text, f"tests/fixtures/lint-violations/{file}", line, col, f"flake8 {code}")
                for level in ("error", "warning") for file, line, col, code, text in VIOLATIONS]
    assert job.annotations == expected  # errors from the failing step, warnings from report-only
    assert any("Summary - ### ❌ flake8: 4 violations in 1 file" in line for line in job.lines)


def test_unit_test_annotates_the_failing_line(self_test):
    [failure] = self_test.jobs["Unit-test action"].annotations
    assert failure == Annotation(
        "error", "AssertionError: double(-3) should be -6\nassert -6 == -5\n +  where -6 = double(-3)",
        "tests/fixtures/failing-test/tests/test_numbers.py", 10, None,
        "Test failed: tests/test_numbers.py::test_double_negative")


def test_pr_check_reports_lint_and_tests(self_test):
    job = self_test.jobs["PR check (root action)"]
    assert [(a.file, a.line, a.title) for a in job.annotations] == [
        ("tests/fixtures/pr-broken/app.py", 2, "flake8 W291"),
        ("tests/fixtures/pr-broken/test_app.py", 5, "Test failed: test_app.py::test_greet"),
    ]
    assert job.annotations[1].message.startswith("AssertionError: assert 'hello ml' == 'hello ML'")
    assert "\x1b" not in job.annotations[1].message and "#x1B" not in job.annotations[1].message


def test_bad_input_is_named_with_its_fix(self_test):
    assert [(a.title, a.message) for a in self_test.jobs["Bad input is refused"].annotations] == [
        ("Invalid input: max-line-length", "input 'max-line-length' is 'eighty': not a whole number of at least 1. "
         "Fix: set max-line-length to a whole number of at least 1."),
        ("Invalid input: min-coverage", "input 'min-coverage' is 'lots': not a number from 0 to 100. "
         "Fix: set min-coverage to a number from 0 to 100."),
    ]


def test_model_lifecycle_rolls_back_the_wrong_model(self_test):
    job = self_test.jobs["Model lifecycle (local backend)"]
    [error, warning, drift] = job.annotations
    assert (drift.level, drift.title, drift.message) == ("error", "Monitoring alert",
                                                         "self-test-endpoint: drift in glucose.")
    assert (error.level, error.title) == ("error", "Smoke test of self-test-endpoint failed")
    assert error.message.startswith("10 of 10 answers failed: output differs from the expected [0, 1]")
    assert (warning.level, warning.title, warning.message) == (
        "warning", "Rollback", "Rolled back self-test-endpoint: traffic returned to green (100%); blue deleted.")
    summaries = [line for line in job.lines if "Summary - " in line]
    assert any("Model registered as `models:/self-test-model/1`" in line for line in summaries)
    assert any("Deployed `models:/self-test-model/2` to `self-test-endpoint/green`" in line for line in summaries)
    # each smoke test masks the endpoint key (act shows the mask as ***), and no key-like token is in the log
    assert sum(line.strip() == "⚙  ***" for line in job.lines) >= 4
    tokens = re.findall(r"(?<![\w-])[\w-]{43}(?![\w-])", self_test.output)
    assert [t for t in tokens if re.search(r"\d", t) and re.search(r"[A-Za-z]", t)] == []


def test_a_wrong_result_fails_the_self_test(tmp_path):
    """The workflow's own checks can fail: one more violation in the fixture fails the lint job."""
    repo = act.copy_repository(ROOT, tmp_path)
    bad = repo / "tests" / "fixtures" / "lint-violations" / "bad.py"
    bad.write_text(bad.read_text() + "x=1\n")
    run = act.run("pull_request", ".github/workflows/self-test.yml", repo, payload=PR_EVENT, job="lint")
    assert run.returncode != 0 and run.jobs["Lint action"].result == "failed"
    assert Annotation("error", "violations count: expected '4', got '5'", title="Self-test") \
        in run.jobs["Lint action"].annotations


def test_a_run_past_its_time_limit_is_stopped_with_what_its_jobs_started(tmp_path):
    """act and the processes of its jobs are stopped together at the time limit, and the run says so."""
    marker = tmp_path / "still-running"
    workflow = tmp_path / ".github" / "workflows" / "slow.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("on: workflow_dispatch\njobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n"
                        f"      - run: sleep 120; touch {marker}\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    started = time.monotonic()
    run = act.run("workflow_dispatch", ".github/workflows/slow.yml", tmp_path, timeout=5)
    assert run.timed_out and time.monotonic() - started < 60
    time.sleep(1)
    found = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True, text=True)
    assert found.stdout.strip() == "" and not marker.exists()
