"""No action input disappears within a major version: a renamed input stays, with a deprecationMessage."""

import runpy
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
release = runpy.run_path(str(ROOT / "scripts" / "release"))


def git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


def action(inputs: dict) -> str:
    lines = ["name: a", "description: a", "inputs:"]
    for name, extra in inputs.items():
        lines += [f"  {name}:", "    description: d", "    required: false", '    default: ""'] + extra
    return "\n".join(lines + ["runs:", "  using: composite", "  steps: []"]) + "\n"


def test_a_removed_input_is_found_and_a_deprecated_one_is_fine(tmp_path):
    (tmp_path / "actions" / "lint").mkdir(parents=True)
    lint = tmp_path / "actions" / "lint" / "action.yml"
    lint.write_text(action({"paths": [], "config": []}))
    (tmp_path / "action.yml").write_text(action({"paths": []}))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "v1")
    git(tmp_path, "tag", "v1.0.0")
    lint.write_text(action({"paths": [], "flake8-config": []}))  # "config" renamed, the old name dropped
    assert release["vanished_inputs"](tmp_path, "v1.0.0") == ["actions/lint/action.yml: config"]
    lint.write_text(action({"paths": [], "flake8-config": [], "config": [
        '    deprecationMessage: "Renamed to flake8-config: use flake8-config instead."']}))
    assert release["vanished_inputs"](tmp_path, "v1.0.0") == []


def test_no_input_of_the_last_release_is_gone():
    tags = git(ROOT, "tag", "--list", "v*.*.*").split()
    if not tags:
        pytest.skip("no release tag yet: nothing to compare with")
    last = max(tags, key=lambda tag: tuple(map(int, tag[1:].split("."))))
    assert release["vanished_inputs"](ROOT, last) == []
