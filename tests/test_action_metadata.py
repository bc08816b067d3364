"""Every action.yml and workflow: valid against GitHub's schemas, in step with the package, secure."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tool
from mlops_actions import compare, deploy, lint, monitor, pr_check, promote, register, smoke, traffic, train, unit_test
from mlops_actions.pins import PINS

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = {".": pr_check, "actions/lint": lint, "actions/unit-test": unit_test, "actions/register-model": register,
           "actions/deploy-endpoint": deploy, "actions/shift-traffic": traffic, "actions/smoke-test": smoke,
           "actions/compare-model": compare,
           "actions/train": train, "actions/monitor": monitor, "actions/promote-model": promote}
ACTION_FILES = [ROOT / "action.yml", *sorted(ROOT.glob("actions/*/action.yml"))]
EXAMPLE = ROOT / "example-project"
WORKFLOWS = sorted(ROOT.glob(".github/workflows/*.yml")) + sorted(EXAMPLE.glob(".github/workflows/*.yml"))
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")
LIBRARY = re.compile(r"^OWNER/mlops-actions(/actions/[\w-]+)?@(v\d+|[0-9a-f]{40})$")  # users' reference to us
EXPRESSION = re.compile(r"\$\{\{")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_every_action_folder_is_known():
    assert {str(p.parent.relative_to(ROOT)) for p in ACTION_FILES} == set(ACTIONS)


@pytest.mark.parametrize("folder", ACTIONS)
def test_action_inputs_and_outputs_are_the_commands(folder):
    action, job = load(ROOT / folder / "action.yml"), ACTIONS[folder]
    assert {name: (spec["description"], spec["default"], spec["required"]) for name, spec in action["inputs"].items()} \
        == {spec.name: (spec.description, spec.default, spec.required) for spec in job.INPUTS}
    [step] = action["runs"]["steps"]
    assert {name: " ".join(spec["description"].split()) for name, spec in action["outputs"].items()} == \
        {name: " ".join(text.split()) for name, text in job.OUTPUTS.items()}
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.{step['id']}.outputs.{name} }}}}"
    # act parses an expression anywhere in action.yml and refuses to run the action when it does not parse
    texts = [spec["description"] for spec in [*action["inputs"].values(), *action["outputs"].values()]]
    assert not [text for text in texts if "${{" in text]


@pytest.mark.parametrize("folder", ACTIONS)
def test_action_is_one_thin_step_with_inputs_through_env(folder):
    action = load(ROOT / folder / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert {"name", "description", "author", "branding"} <= action.keys()
    [step] = action["runs"]["steps"]
    assert step["shell"] == "bash"
    assert step["env"] == {spec.env: f"${{{{ inputs.{spec.name} }}}}" for spec in ACTIONS[folder].INPUTS}
    command = folder.rsplit("/", 1)[-1] if folder != "." else "pr-check"
    run_sh = "actions/run.sh" if folder == "." else "../run.sh"
    assert step["run"] == f'"$GITHUB_ACTION_PATH/{run_sh}" {command}'


def steps_of(path: Path) -> list[dict]:
    data = load(path)
    steps = list((data.get("runs") or {}).get("steps") or [])
    for job in (data.get("jobs") or {}).values():
        steps += job.get("steps") or []
    return steps


@pytest.mark.parametrize("path", ACTION_FILES + WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expression_inside_run_and_remote_actions_pinned_to_a_sha(path):
    text = path.read_text()
    for step in steps_of(path):
        assert not EXPRESSION.search(step.get("run", "")), f"{path}: pass values to run: through env:"
        uses = step.get("uses", "")
        if not uses or uses.startswith("./") or LIBRARY.match(uses):
            continue
        pin = SHA_PIN.match(uses)
        assert pin, f"{path}: {uses} is not pinned to a full commit SHA"
        assert PINS[pin["action"]][0] == pin["sha"], f"{path}: {uses} differs from mlops_actions/pins.py"
        assert f"{uses} # {PINS[pin['action']][1]}" in text, f"{path}: {uses} lacks its # version comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_grant_least_privilege(path):
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name}"
        assert "timeout-minutes" in job or "uses" in job, f"{path.name}: job {name}"  # a reusable call has none
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_actions_match_the_github_action_schema():
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions",
                             *map(str, ACTION_FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_github_workflow_schema():
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema_and_watches_the_locked_requirements():
    config = ROOT / ".github" / "dependabot.yml"
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    watched = {(u["package-ecosystem"], u["directory"]) for u in load(config)["updates"]}
    assert {("pip", "/requirements/locked"), ("github-actions", "/")} <= watched


def test_zizmor_finds_nothing():
    result = subprocess.run([tool("zizmor"), "--offline", "--format", "plain", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_would_catch_an_expression_in_run(tmp_path):
    """The audit is live: the same zizmor flags the injection this repository avoids."""
    action = tmp_path / "action.yml"
    action.write_text("name: x\ndescription: x\ninputs:\n  a:\n    description: a\nruns:\n  using: composite\n"
                      "  steps:\n    - shell: bash\n      run: echo ${{ inputs.a }}\n")
    result = subprocess.run([tool("zizmor"), "--offline", str(action)], capture_output=True, text=True)
    assert result.returncode != 0 and "template-injection" in result.stdout


def test_actionlint_passes_this_repositorys_workflows():
    """(The example project's, generated, are linted as their own repository in test_generate.py.)"""
    workflows = sorted(map(str, ROOT.glob(".github/workflows/*.yml")))
    result = subprocess.run([tool("actionlint"), *workflows], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_tables_match_the_action_files():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync-docs"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
