"""Each action installs only its own extra, and only when something is missing."""

import os
import subprocess
import venv
from pathlib import Path

import pytest

from mlops_actions import environment, github

ROOT = Path(__file__).resolve().parents[1]


def test_nothing_is_installed_when_the_modules_are_there(monkeypatch, runner):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    environment.require("lint")


def test_outside_a_runner_only_what_is_missing_is_named_with_the_command_for_this_installation():
    import sys

    with pytest.raises(github.ActionError) as caught:
        environment.require("lint", ("json", "no_such_module_xyz", "flake8"))
    assert f"no_such_module_xyz cannot be imported by {sys.executable}." in str(caught.value)  # json is there
    # this checkout is installed editable (scripts/bootstrap): the command installs from it
    assert f"Fix: {sys.executable} -m pip install -e '{ROOT}[lint]'" in str(caught.value)


def test_the_install_command_follows_how_the_package_was_installed(monkeypatch):
    import sys
    from importlib import metadata

    class Installed:
        def __init__(self, origin):
            self.origin = origin

        def read_text(self, name):
            return self.origin

    pip = f"{sys.executable} -m pip install"
    for origin, command in [
            (None, f"{pip} 'mlops-actions[monitor]'"),  # from the index: no direct_url.json
            ('{"url": "file:///opt/my%20actions", "dir_info": {}}', f"{pip} '/opt/my actions[monitor]'"),
            ('{"url": "https://example.com/m.whl", "archive_info": {}}', f"{pip} 'mlops-actions[monitor]'")]:
        monkeypatch.setattr(metadata, "distribution", lambda name, origin=origin: Installed(origin))
        assert environment.install_command("monitor") == command

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(metadata, "distribution", not_installed)
    assert environment.install_command("monitor") == f"{pip} -r {ROOT / 'requirements' / 'monitor.txt'}"


def test_a_dotted_module_whose_parent_is_missing_is_missing():
    assert environment.importable(("no_such_parent_xyz.child",)) is False
    assert environment.importable(("json", "xml.etree")) is True


def test_in_a_fresh_environment_the_lint_action_installs_flake8_and_nothing_heavy(tmp_path, project):
    """A new virtualenv, as on a fresh runner: run.sh lint installs the lint extra, then lints."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    project("clean", into=tmp_path)
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "INPUT_"))}
    environ.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(tmp_path), MLOPS_ACTIONS_PYTHON=str(python),
                   GITHUB_OUTPUT=str(tmp_path / "out"), INPUT_WORKING_DIRECTORY="clean")
    result = subprocess.run([str(ROOT / "actions" / "run.sh"), "lint"], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"::group::Installing the lint requirements into {python}" in result.stdout
    assert (tmp_path / "out").read_text() == "violations=0\n"
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                               text=True).stdout.lower()
    assert "flake8==" in installed
    for heavy in ("pytest", "azure-ai-ml", "mlflow", "mlops-actions"):
        assert f"{heavy}==" not in installed


LOCKED = sorted((ROOT / "requirements" / "locked").glob("*.txt"))


def locked_pins(path: Path) -> dict[str, list[str]]:
    """name -> the versions a locked file pins (one per Python marker), each checked to carry a hash."""
    import re

    pins: dict[str, list[str]] = {}
    for entry in re.split(r"\n(?=[^\s#])", path.read_text()):
        if entry.startswith("#") or not entry.strip():
            continue
        found = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", entry)
        assert found, f"{path.name}: not an exact pin: {entry.splitlines()[0]}"
        assert "--hash=sha256:" in entry, f"{path.name}: {found[1]} has no hash"
        pins.setdefault(found[1].lower().replace("_", "-"), []).append(found[2])
    return pins


def test_every_extra_an_action_installs_is_locked_with_exact_versions_and_hashes():
    assert {path.stem for path in LOCKED} == set(environment.MODULES)


@pytest.mark.parametrize("locked", LOCKED, ids=lambda path: path.name)
def test_a_locked_file_is_compiled_from_its_ranges_as_they_are_now(locked):
    """scripts/lock records the source's hash; each range's package is pinned inside the range."""
    import hashlib

    from packaging.requirements import Requirement

    source = ROOT / "requirements" / locked.name
    assert f"(source sha256 {hashlib.sha256(source.read_bytes()).hexdigest()})" in locked.read_text().splitlines()[0], \
        f"{source.name} changed since {locked} was compiled: run scripts/lock"
    pins = locked_pins(locked)
    for line in source.read_text().splitlines():
        text = line.split("#")[0].strip()
        if text:
            wanted = Requirement(text)
            versions = pins[wanted.name.lower().replace("_", "-")]
            assert all(wanted.specifier.contains(version, prereleases=True) for version in versions), \
                f"{locked.name}: {wanted.name} {versions} outside {wanted.specifier}"


def test_a_locked_file_that_lost_a_hash_is_caught(tmp_path):
    broken = tmp_path / "lint.txt"
    broken.write_text("# header\nflake8==7.5.0 \\\n    # via -r requirements/lint.txt\n")
    with pytest.raises(AssertionError, match="flake8 has no hash"):
        locked_pins(broken)


def test_the_cli_extra_installs_what_every_command_needs():
    import sys

    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    files = extras["optional-dependencies"]["cli"]["file"]
    assert {Path(name).stem for name in files} == set(environment.MODULES) | {"act"}
