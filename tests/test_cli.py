import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_actions import __version__, cli, github

ROOT = Path(__file__).resolve().parents[1]
RUN_SH = ROOT / "actions" / "run.sh"


def mlops(*args, cwd=None, **env):
    """Run the package as the actions do: actions/run.sh, with a clean environment plus `env`."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "INPUT_"))}
    base["MLOPS_ACTIONS_PYTHON"] = sys.executable
    return subprocess.run([str(RUN_SH), *args], cwd=cwd, capture_output=True, text=True, env={**base, **env})


@pytest.mark.parametrize("columns", ["80", "60", "200"])
def test_help_lists_every_command_apart_from_its_description_and_within_the_terminal(columns):
    result = mlops("--help", COLUMNS=columns)
    assert result.returncode == 0
    listed = result.stdout.split("commands:\n", 1)[1].splitlines()
    for name, (_, text) in cli.COMMANDS.items():
        [line] = [line for line in listed if line.startswith(f"  {name} ")]
        assert line.split()[1] == text.split()[0] and "  " in line.removeprefix(f"  {name}")  # spaces between
    assert max(map(len, listed)) <= max(int(columns), 50)


def test_version():
    assert mlops("--version").stdout.strip() == f"mlops-actions {__version__}"


def test_each_command_has_help_with_its_inputs():
    result = mlops("unit-test", "--help")
    assert result.returncode == 0 and "--min-coverage VALUE" in result.stdout and "INPUT_<NAME>" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = mlops("deploy-everything")
    assert result.returncode == 2 and "invalid choice: 'deploy-everything'" in result.stderr


def test_bad_input_from_the_environment_is_an_annotation_and_exit_2(tmp_path):
    result = mlops("lint", cwd=tmp_path, GITHUB_ACTIONS="true", INPUT_MAX_LINE_LENGTH="wide")
    assert result.returncode == 2
    assert result.stdout.strip() == github.command(
        "error", "input 'max-line-length' is 'wide': not a whole number of at least 1. "
        "Fix: set max-line-length to a whole number of at least 1.", title="Invalid input: max-line-length")


def test_flags_work_at_a_terminal(tmp_path):
    result = mlops("lint", "--working-directory", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "error [Invalid input: working-directory] input 'working-directory' is 'nowhere'" in result.stdout


def test_missing_python_is_a_clear_error(tmp_path):
    result = mlops("lint", cwd=tmp_path, MLOPS_ACTIONS_PYTHON="python-that-does-not-exist")
    assert result.returncode == 2
    assert result.stdout.startswith("::error title=Python not found::'python-that-does-not-exist' is not on PATH")


def test_too_old_python_is_a_clear_error():
    pretend = "import runpy, sys; sys.version_info = (3, 8, 10); runpy.run_module('mlops_actions', run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", pretend], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout.startswith("::error title=Python too old::mlops-actions needs Python 3.10 or newer")


def test_pr_check_runs_both_jobs_and_fails_if_either_failed(runner, project, capsys):
    broken = project("pr-broken", into=runner.workspace)
    assert cli.main(["pr-check", "--working-directory", broken.name]) == 1
    out = capsys.readouterr().out
    assert "title=flake8 W291::trailing whitespace" in out
    assert "title=Test failed%3A test_app.py%3A%3Atest_greet" in out
    assert {"violations": "1", "failed": "1"}.items() <= runner.outputs().items()


def test_pr_check_still_tests_when_lint_input_is_bad(runner, project, capsys):
    clean = project("clean", into=runner.workspace)
    assert cli.main(["pr-check", "--working-directory", clean.name, "--lint-paths", "nope"]) == 2
    assert "title=Invalid input%3A lint-paths::input 'lint-paths' is 'nope'" in capsys.readouterr().out
    assert runner.outputs()["passed"] == "3"


def test_a_command_module_is_imported_only_when_it_runs():
    code = "import sys, mlops_actions.cli; print(sorted(m for m in sys.modules if m.startswith('mlops_actions')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "mlops_actions.lint" not in result.stdout and "mlops_actions.unit_test" not in result.stdout


def test_an_unexpected_exception_is_a_bug_report_with_exit_code_3(monkeypatch, capsys):
    from mlops_actions import cli, lint

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setattr(lint, "run", lambda inputs: {}["a key that is not there"])
    assert cli.main(["lint"]) == 3  # not 1, which says a check failed
    out = capsys.readouterr().out
    assert "::group::Traceback" in out and "KeyError" in out
    assert "::error title=Bug in mlops-actions::mlops-actions lint stopped on an unexpected KeyError" in out
