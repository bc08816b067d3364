"""A corpus of bad and hostile values for every input of every command.

Each value goes into one input at a time, the others set as a user would set them. Whatever the command
does with it, it must not end in a traceback (exit 3, "Bug in mlops-actions"), must not write outside the
workspace and the state folder, and must not run anything the value contains. An input that takes a number,
a boolean or one of a list must refuse a value that is none of those, naming the input (exit 2).
"""

import importlib
import json
import shutil

import pytest

from mlops_actions import cli

BAD_VALUES = [
    " ", "-1", "0", "1e309", "nan", "１０", "٣", "x" * 5000, "a\x00b", "a\nb", "\x1b[31m",
    "::error::forged", "%0A::warning::forged", "../escaped", "../../escaped", "/etc/passwd", "~/.ssh",
    "$(touch pwned-subshell)", "`touch pwned-backtick`", "; touch pwned-semicolon", "'", '"', "${{ secrets.X }}",
    "🙂", "--help", "-x", "a=b=c", "true false", "*", "[", "a" * 300 + "/" + "b" * 300,
]

PWNED = ("pwned-subshell", "pwned-backtick", "pwned-semicolon")  # what the values above would create if run

# Per command: the other inputs, as a user would set them. Each run stops early (the endpoint or model
# does not exist, the training writes no model) so the corpus stays fast; what it checks is how far the
# bad value gets and how the command ends.
BASELINES = {
    "lint": {"working-directory": "project"},
    "unit-test": {"working-directory": "empty", "fail-on-empty": "false", "coverage": "false"},
    "pr-check": {"working-directory": "empty", "fail-on-empty": "false"},
    "train": {"command": "true"},
    "register-model": {"model-name": "corpus-model", "model-path": "model/weights.txt", "model-type": "custom_model"},
    "compare-model": {"metrics-file": "request.json", "champion-endpoint": "corpus-endpoint"},
    "deploy-endpoint": {"endpoint-name": "corpus-endpoint", "model-name": "no-such-model"},
    "promote-model": {"model-name": "corpus-model", "model-version": "1", "from-workspace": "staging",
                      "workspace": "production"},
    "shift-traffic": {"endpoint-name": "corpus-endpoint", "traffic": "blue=100"},
    "smoke-test": {"endpoint-name": "corpus-endpoint", "request-file": "request.json"},
    "monitor": {"endpoint-name": "corpus-endpoint", "training-data": "train.csv"},
    "endpoints": {},
    "setup": {"github": "false"},  # the GitHub side's token and repository: tests/test_setup_github.py
    "init": {"config": "new/mlops.yml"},
    "generate": {"check": "true"},
    "local": {"event": "push"},  # no workflows generated yet
    "hook": {},
    "invoke": {"endpoint-name": "corpus-endpoint", "request-file": "request.json"},
    "schema": {"output": "mlops.schema.json"},
}


def typed(spec) -> bool:
    """Whether the input takes a number, a boolean or one of a list (so that most of the corpus is wrong)."""
    if spec.choices or spec.default in ("true", "false"):
        return True
    try:
        float(spec.default)
        return True
    except ValueError:
        return False


def rejected(spec, value: str) -> bool:
    """Whether a typed input must refuse `value`."""
    text = value.strip()
    if spec.choices:
        return text not in spec.choices
    if spec.default in ("true", "false"):  # empty: the default
        return text.lower() not in ("", "true", "false", "yes", "no", "1", "0", "on", "off")
    return text != "" and text not in ("-1", "0") and not text.isdigit()  # ranges differ per input


@pytest.fixture
def sandbox(runner, project, tmp_path, monkeypatch):
    workspace = runner.workspace
    project("clean", into=workspace).rename(workspace / "project")
    (workspace / "empty").mkdir()
    (workspace / "model").mkdir()
    (workspace / "model" / "weights.txt").write_text("1.0\n")
    (workspace / "request.json").write_text(json.dumps({"data": [[1, 2]]}))
    (workspace / "train.csv").write_text("a,b\n1,2\n3,4\n")
    monkeypatch.setenv("MLOPS_ACTIONS_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli.main(["init"]) == 0  # a starter mlops.yml for setup and generate
    return tmp_path


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_input_survives_the_corpus(command, sandbox, capsys):
    job = importlib.import_module(f"mlops_actions.{cli.COMMANDS[command][0]}")
    failures = []

    def outside():  # where the values' ../ lead from the workspace and the folders in it
        return [path for path in (sandbox / "escaped", sandbox.parent / "escaped") if path.exists()]

    for spec in job.INPUTS:
        if command == "pr-check" and spec.name not in ("lint-paths", "test-paths"):
            continue  # the others are lint's and unit-test's own inputs, read by the same code
        for value in BAD_VALUES:
            flags, existed = {**BASELINES[command], spec.name: value}, set(outside())
            argv = [command] + [f"--{name}={text}" for name, text in flags.items()]
            code = cli.main(argv)
            out = capsys.readouterr().out
            label = f"{command} --{spec.name}={value[:40]!r}"
            if code == 3 or "Traceback" in out:
                failures.append(f"{label}: a bug report (exit {code})")
            elif code not in (0, 1, 2):
                failures.append(f"{label}: exit {code}")
            elif typed(spec) and rejected(spec, value) and not (code == 2 and f"'{spec.name}'" in out):
                failures.append(f"{label}: accepted (exit {code}), or refused without naming the input")
            ran = [path for path in sandbox.rglob("pwned-*") if path.name in PWNED]  # one walk, not three
            if ran and spec.name != "command":  # train's command is a shell command, by design
                failures.append(f"{label}: ran {ran[0].name}")
            for path in ran:
                path.unlink()
            for escaped in set(outside()) - existed:
                if spec.name != "state-dir":  # the state folder may be anywhere the user chooses
                    failures.append(f"{label}: wrote {escaped}, outside the workspace")
                    shutil.rmtree(escaped)
    assert not failures, "\n".join(failures)
    written = {path.name for path in sandbox.iterdir()}
    assert written <= {"workspace", "state", "escaped", "home", "output", "summary.md"}, written
