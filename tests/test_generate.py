"""The generator: golden files for representative configs, generated workflows that pass actionlint,
zizmor and GitHub's schema, --check, init, and one clear error for each kind of bad config."""

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from conftest import tool
from mlops_actions import generate, starter
from mlops_actions.config import ConfigError
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
PROJECTS = sorted(path.name for path in GOLDEN.iterdir() if (path / "mlops.yml").is_file())
EXAMPLE = ROOT / "example-project"


def run_generate(config: Path, **flags) -> int:
    return generate.run(Inputs.read(generate.INPUTS, {"config": str(config), **flags}, environ={}))


def as_repository(source: Path, target: Path) -> Path:
    """A copy of a project in a git repository of its own, as users have it."""
    shutil.copytree(source, target)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    return target


@pytest.mark.parametrize("name", PROJECTS)
def test_golden_files_are_what_the_config_generates(name, capsys):
    assert run_generate(GOLDEN / name / "mlops.yml", check="true") == 0, capsys.readouterr().out


def test_the_example_projects_workflows_are_generated_from_its_config(capsys):
    assert run_generate(EXAMPLE / "mlops.yml", check="true") == 0, capsys.readouterr().out


@pytest.mark.parametrize("source", [GOLDEN / name for name in PROJECTS] + [EXAMPLE], ids=lambda p: p.name)
def test_generated_workflows_pass_actionlint_zizmor_and_the_schema(source, tmp_path):
    project = as_repository(source, tmp_path / source.name)
    workflows = sorted(str(p) for p in (project / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) == (4 if (source / ".github" / "workflows" / "monitor.yml").exists() else 3)
    lint = subprocess.run([tool("actionlint"), *workflows], cwd=project, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run([tool("zizmor"), "--offline", "--persona", "pedantic", "."], cwd=project,
                           capture_output=True, text=True)
    assert audit.returncode == 0 and "No findings to report" in audit.stdout, audit.stdout + audit.stderr
    schema = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows],
                            capture_output=True, text=True)
    assert schema.returncode == 0, schema.stdout
    dependabot = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot",
                                 str(project / ".github" / "dependabot.yml")], capture_output=True, text=True)
    assert dependabot.returncode == 0, dependabot.stdout


def test_azureml_workflows_sign_in_with_oidc_and_local_ones_do_not():
    azure = (GOLDEN / "azureml" / ".github" / "workflows" / "cd.yml").read_text()
    local = (GOLDEN / "local" / ".github" / "workflows" / "cd.yml").read_text()
    assert "azure/login@" in azure and "id-token: write" in azure and "client-secret" not in azure
    assert "azure/login@" not in local and "id-token" not in local
    cd = yaml.safe_load(azure)
    assert cd["jobs"]["production"]["needs"] == "staging"
    assert cd["jobs"]["production"]["environment"]["name"] == "production"
    assert cd["concurrency"] == {"group": "cd-diabetes-classifier", "cancel-in-progress": False}


def test_the_library_is_referenced_at_the_configured_ref():
    local = (GOLDEN / "local" / ".github" / "workflows" / "ci.yml").read_text()
    azure = (GOLDEN / "azureml" / ".github" / "workflows" / "ci.yml").read_text()
    assert "uses: OWNER/mlops-actions/actions/register-model@v1\n" in local
    assert ("uses: contoso/mlops-actions/actions/register-model@0123456789abcdef0123456789abcdef01234567 # v1.4.2"
            in azure)


def test_check_catches_a_hand_edit(tmp_path, capsys):
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project)
    ci = project / ".github" / "workflows" / "ci.yml"
    ci.write_text(ci.read_text().replace("timeout-minutes: 60", "timeout-minutes: 600"))
    assert run_generate(project / "mlops.yml", check="true") == 1
    out = capsys.readouterr().out
    assert "-    timeout-minutes: 600\n+    timeout-minutes: 60\n" in out
    assert "ci.yml differ from what mlops.yml generates" in out
    assert "timeout-minutes: 600" in ci.read_text()  # --check writes nothing
    assert run_generate(project / "mlops.yml") == 0 and run_generate(project / "mlops.yml", check="true") == 0


@pytest.mark.parametrize("missing", [".github/workflows/pull-request.yml", ".github/dependabot.yml",
                                     ".github/zizmor.yml"])
def test_check_fails_on_a_generated_file_that_is_missing(tmp_path, capsys, missing):
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project)
    (project / missing).unlink()
    assert run_generate(project / "mlops.yml", check="true") == 1
    assert f"{Path(missing).name} differ from what mlops.yml generates" in capsys.readouterr().out
    assert not (project / missing).exists()  # --check writes nothing


def test_a_workflow_the_config_no_longer_generates_is_stale_and_generate_removes_it(tmp_path, capsys):
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project)
    config = project / "mlops.yml"
    config.write_text(re.sub(r"\nmonitor:\n(?:  .*\n)+", "\n", config.read_text()))  # the monitor block removed
    workflows = project / ".github" / "workflows"
    (workflows / "mine.yml").write_text("name: Mine\non: push\n")  # the project's own: never touched
    (workflows / "from-other.yml").write_text(  # generated from another config: not this one's to remove
        (workflows / "monitor.yml").read_text().replace("from mlops.yml", "from other.yml"))
    assert run_generate(config, check="true") == 1
    out = capsys.readouterr().out
    assert "monitor.yml is no longer generated from mlops.yml: remove it" in out
    assert "monitor.yml differ from what mlops.yml generates" in out and (workflows / "monitor.yml").is_file()
    assert run_generate(config) == 0
    assert "removed" in capsys.readouterr().out and not (workflows / "monitor.yml").exists()
    assert (workflows / "mine.yml").is_file() and (workflows / "from-other.yml").is_file()
    assert run_generate(config, check="true") == 0


def test_a_hostile_value_stays_data(tmp_path):
    """A training command is the user's own command: it reaches the train action as a quoted input (never
    inside run:), and it is passed on as data."""
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project, ignore=shutil.ignore_patterns(".github"))
    config = project / "mlops.yml"
    hostile = 'python train.py "$(curl evil)"; echo ${HOME} # \' `id`'
    config.write_text(config.read_text().replace(
        "  train: python -m model.train --model-output outputs/model --metrics-output outputs/metrics.json",
        "  train: " + yaml.safe_dump(hostile, default_style='"').strip()))
    assert run_generate(config) == 0
    steps = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())["jobs"]["train"]["steps"]
    [train] = [step for step in steps if step.get("name") == "Train"]
    assert train["with"]["command"] == hostile and train["uses"].startswith("OWNER/mlops-actions/actions/train@")
    assert all("run" not in step or "$(curl" not in step["run"] for step in steps)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t + "  : : [\n", "not valid YAML (line"),
    (lambda t: t.replace("model:\n", "modell:\n"), "modell (line 11): unknown key; did you mean 'model'?"),
    (lambda t: t.replace("  requests: 20\n", "  requests: many\n"), "smoke-test.requests (line 32): 'many' is not "
     "an integer"),
    (lambda t: t.replace("min-coverage: 80", "min-coverage: [80]"), "project.min-coverage (line 10): [80] is not a "
     "number"),
    (lambda t: t.replace("  name: diabetes-classifier\n", ""), "model (line 11): 'name' is a required property"),
    (lambda t: t.replace("endpoint: diabetes-staging", "endpoint: 9-lives"), "environments.staging.endpoint (line "
     "21): '9-lives' is not valid (The online endpoint's name"),
    (lambda t: t.replace("ref: v1", "ref: main"), "library.ref (line 4): 'main' is not valid (A tag (v1, v1.2.3) or "
     "a full 40-character commit SHA.)"),
    (lambda t: t.replace("name: diabetes-classifier", 'name: x"; curl evil #'), "model.name (line 12): 'x\"; curl "
     "evil' is not valid"),
    (lambda t: t.replace("request: tests/sample-request.json", "request: ${{ secrets.TOKEN }}"),
     "smoke-test.request (line 30): '${{ secrets.TOKEN }}' is not valid"),
    (lambda t: t.replace("gate:\n", "gates:\n"), "model.gates (line 16): unknown key; did you mean 'gate'?"),
    (lambda t: t + "backend: aws\n", "backend (line 34): 'aws' is not one of local, azureml"),
    (lambda t: t + "backend: azureml\n", "azure: required with backend azureml"),
    (lambda t: t.replace("train: python", "train: ${{ github.event.issue.title }} python"),
     "model.train: '${{ github.event.issue.title }} python"),
    (lambda t: t + "monitor: [1]\n", "monitor (line 34): [1] is not an object"),
])
def test_bad_config_is_one_clear_error_and_nothing_is_written(tmp_path, edit, message):
    assert message in refusal(tmp_path, "local", edit)
    assert not (tmp_path / ".github").exists()


def refusal(tmp_path, golden: str, edit) -> str:
    """The ConfigError generate gives for a golden config changed by `edit`."""
    config = tmp_path / "mlops.yml"
    config.write_text(edit((GOLDEN / golden / "mlops.yml").read_text()))
    with pytest.raises(ConfigError) as caught:
        run_generate(config)
    return str(caught.value)


def test_generate_writes_no_workflow_through_a_symbolic_link(tmp_path):
    config = tmp_path / "repo" / "mlops.yml"
    config.parent.mkdir()
    config.write_text((GOLDEN / "local" / "mlops.yml").read_text())
    (tmp_path / "elsewhere").mkdir()
    (config.parent / ".github").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ActionError, match="is a symbolic link"):
        run_generate(config)
    assert list((tmp_path / "elsewhere").rglob("*")) == [] and not (tmp_path / "zizmor.yml").exists()


def test_a_missing_config_says_how_to_start(tmp_path):
    with pytest.raises(ConfigError, match="no such file. Fix: run `mlops-actions init`"):
        run_generate(tmp_path / "mlops.yml")


def test_init_writes_a_starter_that_generates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert starter.run(Inputs.read(starter.INPUTS, {}, environ={})) == 0
    assert run_generate(tmp_path / "mlops.yml") == 0
    assert sorted(p.name for p in (tmp_path / ".github" / "workflows").iterdir()) == ["cd.yml", "ci.yml",
                                                                                      "pull-request.yml"]
    with pytest.raises(InputError, match="a file that exists"):
        starter.run(Inputs.read(starter.INPUTS, {}, environ={}))
    assert starter.run(Inputs.read(starter.INPUTS, {"force": "true"}, environ={})) == 0


def tagged_clone(tmp_path: Path) -> tuple[Path, str]:
    """A clone of mlops-actions (here: a repository with one commit) that has the tag v1.2.0."""
    clone = tmp_path / "clone"
    clone.mkdir()
    run = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],  # noqa
                                       cwd=clone, check=True, capture_output=True, text=True).stdout.strip()
    run("init", "-q")
    (clone / "action.yml").write_text("name: x\n")
    run("add", "-A")
    run("commit", "-qm", "x")
    run("tag", "-a", "v1.2.0", "-m", "v1.2.0")
    return clone, run("rev-parse", "HEAD")


def test_the_library_can_be_pinned_by_the_sha_its_tag_points_to(tmp_path):
    clone, sha = tagged_clone(tmp_path)
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project, ignore=shutil.ignore_patterns(".github"))
    config = project / "mlops.yml"
    config.write_text(config.read_text().replace("  ref: v1\n", "  ref: v1.2.0\n  pin: sha\n"))
    assert run_generate(config, **{"library-clone": str(clone)}) == 0
    ci = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert f"uses: OWNER/mlops-actions/actions/register-model@{sha} # v1.2.0\n" in ci
    assert "unpinned-uses" not in (project / ".github" / "zizmor.yml").read_text()  # nothing to allow
    assert run_generate(config, check="true", **{"library-clone": str(clone)}) == 0
    config.write_text(config.read_text().replace("ref: v1.2.0", "ref: v9.9.9"))
    with pytest.raises(InputError, match="a folder where the tag v9.9.9 cannot be resolved"):
        run_generate(config, **{"library-clone": str(clone)})
    with pytest.raises(InputError) as caught:  # a clone given: it lacks the tag
        run_generate(config, **{"library-clone": str(clone)})
    assert caught.value.problem == "a folder where the tag v9.9.9 cannot be resolved"
    assert caught.value.fix == "give a clone of mlops-actions that has the tag (git fetch --tags)"
    with pytest.raises(InputError) as caught:  # no clone given: the fix says to give one
        run_generate(config)
    assert caught.value.problem == (f"a folder where the tag v9.9.9 cannot be resolved (none was given: this "
                                    f"installation, {ROOT}, was tried)")
    assert caught.value.fix == "pass --library-clone with a clone of OWNER/mlops-actions that has the tag"


def test_the_clone_can_be_named_by_mlops_actions_clone(tmp_path, monkeypatch):
    clone, sha = tagged_clone(tmp_path)
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project, ignore=shutil.ignore_patterns(".github"))
    config = project / "mlops.yml"
    config.write_text(config.read_text().replace("  ref: v1\n", "  ref: v1.2.0\n  pin: sha\n"))
    monkeypatch.setenv("MLOPS_ACTIONS_CLONE", str(clone))
    assert run_generate(config) == 0
    assert f"@{sha} # v1.2.0\n" in (project / ".github" / "workflows" / "ci.yml").read_text()
    config.write_text(config.read_text().replace("ref: v1.2.0", "ref: v9.9.9"))
    with pytest.raises(InputError) as caught:
        run_generate(config)
    assert caught.value.fix == "give a clone of mlops-actions that has the tag (git fetch --tags)"


def test_a_name_a_template_uses_and_the_config_lacks_is_an_error_not_empty(tmp_path):
    import jinja2

    from mlops_actions import config as project_config

    c = project_config.load(GOLDEN / "local" / "mlops.yml")
    del c["model"]["name"]
    with pytest.raises(jinja2.UndefinedError):
        generate.render(c, "mlops.yml", tmp_path / "workflows")


def test_the_placeholder_library_is_a_warning_and_a_real_one_is_not(tmp_path, capsys):
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / "local", project)
    assert run_generate(project / "mlops.yml", check="true") == 0
    assert "[Placeholder library] library.repository in mlops.yml is still the placeholder OWNER/mlops-actions" \
        in capsys.readouterr().out
    config = project / "mlops.yml"
    config.write_text(config.read_text().replace("OWNER/mlops-actions", "contoso/mlops-actions"))
    run_generate(config)
    assert "Placeholder library" not in capsys.readouterr().out


def test_installed_from_a_wheel_the_pre_commit_hooks_work(tmp_path):
    """pre-commit installs the hooks' repository with pip (a wheel, not a checkout): the commands, the
    templates and the schema must all be in it."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["mlops-actions-lint", "mlops-actions-generate-check"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(ROOT)], check=True, capture_output=True)
    environment = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
    # the hooks' additional_dependencies (flake8, jinja2, ...), offline: this environment's packages, read
    # after the wheel's (the editable mlops-actions here is not: its finder is not loaded from a .pth path)
    [site] = environment.glob("lib/python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    subprocess.run([str(environment / "bin" / "pip"), "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True)
    project = as_repository(EXAMPLE, tmp_path / "example")
    python = str(environment / "bin" / "python")
    where = subprocess.run([python, "-c", "import mlops_actions; print(mlops_actions.__file__)"],
                           capture_output=True, text=True).stdout
    assert where.startswith(str(site))  # the wheel, not this checkout
    for hook in hooks:
        command = [str(environment / "bin" / hook["entry"].split()[0]), *hook["entry"].split()[1:]]
        result = subprocess.run(command, cwd=project, capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert result.returncode == 0, hook["id"] + ": " + result.stdout + result.stderr
    (project / "src" / "model" / "train.py").write_text("x=1\n")
    lint = subprocess.run([str(environment / "bin" / "mlops-actions"), "lint"], cwd=project, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert lint.returncode == 1 and "src/model/train.py:1:2: error [flake8 E225]" in lint.stdout


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("  collector: true  # serving/score.py logs its inputs with azureml-ai-monitoring's "
                         "Collector\n", ""), "Azure ML collects a custom model's data only when its scoring script "
     "logs it with azureml-ai-monitoring's Collector"),
    (lambda t: t.replace("  train-environment: azureml:diabetes-train:1\n", ""),
     "'train-environment' is a dependency of 'compute'"),
])
def test_bad_azureml_config_is_one_clear_error(tmp_path, edit, message):
    assert message in refusal(tmp_path, "azureml", edit)


def test_training_on_compute_needs_the_azureml_backend(tmp_path):
    config = tmp_path / "mlops.yml"
    config.write_text((GOLDEN / "local" / "mlops.yml").read_text().replace(
        "  path: outputs/model\n", "  path: outputs/model\n  compute: cpu-cluster\n  train-environment: azureml:t:1\n"))
    with pytest.raises(ConfigError, match="model.compute .*training on Azure ML compute needs backend azureml"):
        run_generate(config)


@pytest.mark.parametrize("text, message", [
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                                                     for p, c in zip("abcdefgh", "bcdefghi")),
     "more than 50 aliases"),
    ("model:\n" + "".join("  " * depth + "x:\n" for depth in range(1, 40)) + "  " * 40 + "x: 1\n",
     "nested more than 20 levels deep"),
    ("model: {name: m, train: \"python train.py\\n::error::forged\", path: m}\n",
     "model.train: 'python train.py\\n::error::forged' has a control character or a line break"),
    ("smoke-test: {request: r.json, max-p95-ms: .nan}\n", "smoke-test.max-p95-ms: nan is not a number"),
    ("# " + "x" * (300 << 10) + "\n", "more than a config needs"),
])
def test_a_hostile_config_is_refused_before_anything_is_rendered(tmp_path, text, message):
    config = tmp_path / "mlops.yml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:  # before the document is expanded, validated or rendered
        run_generate(config)
    assert message in str(caught.value) and not (tmp_path / ".github").exists()


def test_one_endpoint_for_two_environments_is_refused(tmp_path):
    config = tmp_path / "mlops.yml"
    config.write_text((GOLDEN / "local" / "mlops.yml").read_text().replace("endpoint: diabetes-production",
                                                                           "endpoint: diabetes-staging"))
    with pytest.raises(ConfigError, match="diabetes-staging is the endpoint of more than one environment"):
        run_generate(config)
