"""The pre-commit hooks' command (`mlops-actions hook`): lint over the folders mlops.yml names, never inside
virtual environments, build or cache folders, however large they are."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlops_actions import cli

ROOT = Path(__file__).resolve().parents[1]
BAD = "import os\n"  # F401
CONFIG = """library: {repository: contoso/mlops-actions, ref: v1}
project:
  source: %s
  tests: checks
%s
model: {name: m, train: python train.py, path: outputs/model}
environments: {staging: {endpoint: m-staging}, production: {endpoint: m-production}}
smoke-test: {request: request.json}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def reported(out: str) -> list[str]:
    """The files of the violations a run printed, relative to its folder."""
    return sorted({line.split(":")[0] for line in out.splitlines() if "[flake8 " in line})


def project(folder: Path, source: str = "app", extra: str = "") -> Path:
    write(folder / "mlops.yml", CONFIG % (source, extra))
    write(folder / "app" / "model.py", BAD)
    write(folder / "checks" / "test_model.py", BAD)
    write(folder / "scripts" / "one_off.py", BAD)  # neither source nor tests: the pull request does not lint it
    return folder


def hook(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_actions", "hook", "--name", "lint", *args], cwd=folder,
                          capture_output=True, text=True)


def test_the_hooks_are_the_commands_they_document():
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["mlops-actions-lint"]["entry"] == "mlops-actions hook --name lint"
    assert hooks["mlops-actions-lint"]["pass_filenames"] is False  # the folders come from mlops.yml


def test_the_lint_hook_lints_mlops_yml_s_source_and_tests_only(tmp_path):
    result = hook(project(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported(result.stdout) == ["app/model.py", "checks/test_model.py"]


def test_the_lint_hook_takes_mlops_yml_s_flake8_config(tmp_path):
    project(tmp_path, extra="  flake8-config: lint.cfg")
    write(tmp_path / "lint.cfg", "[flake8]\nextend-ignore = F401\n")
    result = hook(tmp_path)
    assert result.returncode == 0 and reported(result.stdout) == [], result.stdout + result.stderr


def test_without_mlops_yml_the_lint_hook_lints_the_whole_project(tmp_path):
    project(tmp_path).joinpath("mlops.yml").unlink()
    result = hook(tmp_path)
    assert reported(result.stdout) == ["app/model.py", "checks/test_model.py", "scripts/one_off.py"]


def test_a_folder_mlops_yml_names_that_is_missing_is_bad_input_naming_the_key(tmp_path):
    project(tmp_path, source="source")
    result = hook(tmp_path)
    assert result.returncode == 2
    assert "input 'mlops.yml's project.source and project.tests' is 'source checks': source does not exist" \
        in result.stdout


def test_an_invalid_mlops_yml_is_bad_input_not_a_lint_of_everything(tmp_path, monkeypatch, capsys):
    project(tmp_path, extra="  sources: app")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["hook"]) == 2
    out = capsys.readouterr().out
    assert "project.sources (line 5): unknown key; did you mean 'source'?" in out and "[flake8 " not in out


def test_a_project_with_a_large_venv_lints_its_own_code_only(tmp_path):
    """10,000 files in .venv, each a violation: none is reported (the hook once linted them all, for over 10
    minutes). The time of the hook and of flake8 over the project's own folders is printed as their ratio."""
    project(tmp_path, source=".")  # a flat project: .venv is inside the linted folder
    write(tmp_path / ".venv" / "pyvenv.cfg", "home = /usr/bin\n")
    packages = tmp_path / ".venv" / "lib" / "python3.12" / "site-packages"
    for package in range(100):
        (packages / f"pkg{package}").mkdir(parents=True)
        for module in range(100):
            (packages / f"pkg{package}" / f"m{module}.py").write_text(BAD)
    for folder in ("build/lib", "dist", "node_modules/x", ".tox/py312/lib"):
        write(tmp_path / folder / "generated.py", BAD)

    started = time.perf_counter()
    result = hook(tmp_path)
    hook_seconds = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flake8", "app", "checks", "scripts"], cwd=tmp_path,
                   capture_output=True)
    flake8_seconds = time.perf_counter() - started
    print(f"hook over a project with a 10,000-file .venv: {hook_seconds:.2f} s; flake8 over the project's own "
          f"files: {flake8_seconds:.2f} s; ratio {hook_seconds / flake8_seconds:.2f}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported(result.stdout) == ["app/model.py", "checks/test_model.py", "scripts/one_off.py"]


@pytest.mark.parametrize("name", ["unit-test", "", "LINT"])
def test_an_unknown_hook_is_refused_naming_it(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["hook", "--name", name]) == 2
    assert f"input 'name' is {name!r}: not one of lint" in capsys.readouterr().out
