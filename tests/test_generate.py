"""The generator: golden files for representative configs, generated workflows that pass actionlint,
zizmor and GitHub's schema, --check, init, and one clear error for each kind of bad config."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tool
from mlops_actions import cli, generate, starter
from mlops_actions.config import SCHEMA, ConfigError, load, schema, schema_url
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


def uncomment(text: str, block: str) -> str:
    """The starter with one of its commented blocks (`# monitor:` and the lines under it) turned on."""
    lines, inside = [], False
    for line in text.splitlines(True):
        if line.startswith(f"# {block}:"):
            inside = True
        elif inside and not line.startswith("#   "):
            inside = False
        lines.append(line[2:] if inside else line)
    return "".join(lines)


def test_the_starter_is_for_this_python_and_names_its_schema_for_editors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert starter.run(Inputs.read(starter.INPUTS, {}, environ={})) == 0
    text = (tmp_path / "mlops.yml").read_text()
    loaded = load(tmp_path / "mlops.yml")
    assert loaded["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    library = loaded["library"]
    # the modeline of Red Hat's YAML language server (VS Code's YAML extension), at the library's own ref
    url = schema_url(library["repository"], library["ref"])
    assert text.splitlines()[0] == f"# yaml-language-server: $schema={url}"
    assert url == "https://raw.githubusercontent.com/OWNER/mlops-actions/v1/templates/mlops.schema.json"
    assert json.loads(SCHEMA.read_text())["$id"] == url


def test_each_block_the_starter_comments_out_is_valid_turned_on(tmp_path):
    text = starter.starter()
    assert "\n# monitor:" in text and "\nmonitor:" not in text  # off until there is training data
    config = tmp_path / "mlops.yml"
    config.write_text(uncomment(text, "monitor"))
    monitor = load(config)["monitor"]
    assert monitor["training-data"] == "data/train.csv" and monitor["ml-task"] == "classification"
    assert run_generate(config) == 0 and (tmp_path / ".github" / "workflows" / "monitor.yml").is_file()
    config.write_text(uncomment(text, "azure").replace("backend: local ", "backend: azureml"))
    assert load(config)["azure"]["workspace"] == "my-workspace"
    properties = json.dumps(schema())
    commented = [line.strip()[2:] for line in text.splitlines() if line.startswith(" ") and line.strip()[:2] == "# "
                 and not line.strip().startswith("# - ")]  # a key, not a list item (the champion condition)
    assert len(commented) == 11, commented
    for line in commented:  # each commented key inside a block that is on is a key of the schema
        assert f'"{line.split(":")[0]}": {{' in properties, line


def test_the_schema_command_writes_the_schema_an_editor_reads_beside_mlops_yml(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema()
    assert cli.main(["schema", "--output", "mlops.schema.json"]) == 0
    assert (tmp_path / "mlops.schema.json").read_text() == SCHEMA.read_text()
    (tmp_path / "folder").mkdir()
    assert cli.main(["schema", "--output", "folder"]) == 2
    assert "input 'output' is 'folder': a folder" in capsys.readouterr().out


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


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("  collector: true  # serving/score.py logs its inputs with azureml-ai-monitoring's "
                         "Collector\n", ""), "Azure ML collects a custom model's data only when its scoring script "
     "logs it with azureml-ai-monitoring's Collector"),
    (lambda t: t.replace("  train-environment: azureml:diabetes-train:1\n", ""),
     "'train-environment' is a dependency of 'compute'"),
])
def test_bad_azureml_config_is_one_clear_error(tmp_path, edit, message):
    assert message in refusal(tmp_path, "azureml", edit)


@pytest.mark.parametrize("key, added", [("compute", "  compute: cpu-cluster\n  train-environment: azureml:t:1\n"),
                                        ("job-file", "  job-file: pipeline.yml\n")])
def test_training_on_compute_needs_the_azureml_backend(tmp_path, key, added):
    config = tmp_path / "mlops.yml"
    config.write_text((GOLDEN / "local" / "mlops.yml").read_text().replace(
        "  path: outputs/model\n", "  path: outputs/model\n" + added))
    with pytest.raises(ConfigError, match=f"model.{key} .*training on Azure ML compute needs backend azureml"):
        run_generate(config)


def test_a_pipeline_job_file_replaces_the_training_command_and_names_the_models_output():
    train = yaml.safe_load((GOLDEN / "azureml-pipeline" / ".github" / "workflows" / "ci.yml").read_text())
    [step] = [s for s in train["jobs"]["train"]["steps"] if s.get("id") == "train"]
    assert step["with"]["job-file"] == "training/pipeline.yml" and step["with"]["job-output"] == "trained_model"
    assert "command" not in step["with"] and "compute" not in step["with"]
    [register] = [s for s in train["jobs"]["train"]["steps"] if s.get("id") == "register"]
    assert register["with"]["champion-endpoint"] == "taxi-fares-prd"


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


def test_a_registry_is_registered_into_once_and_each_environment_deploys_from_it_as_itself():
    ci = yaml.safe_load((GOLDEN / "promotion" / ".github" / "workflows" / "ci.yml").read_text())
    cd = yaml.safe_load((GOLDEN / "promotion" / ".github" / "workflows" / "cd.yml").read_text())
    [register] = [s for s in ci["jobs"]["train"]["steps"] if s.get("id") == "register"]
    assert register["with"]["registry"] == "contoso-models"  # signed in as CI, which has no GitHub environment
    assert register["with"]["client-id"] == "aaaaaaaa-bbbb-cccc-dddd-000000000001"
    # the champion is production's model, in production's workspace (not CI's)
    assert (register["with"]["champion-endpoint"], register["with"]["champion-workspace"]) == ("credit-prd", PRODUCTION)
    for job, workspace, client, environment in [
            ("staging", "mlw-credit-staging", "aaaaaaaa-bbbb-cccc-dddd-000000000002", "staging"),
            ("production", "mlw-credit-prod", "aaaaaaaa-bbbb-cccc-dddd-000000000003", "production-eu")]:
        steps = cd["jobs"][job]["steps"]
        assert cd["jobs"][job]["environment"]["name"] == environment
        [login] = [s for s in steps if s.get("uses", "").startswith("azure/login@")]
        assert login["with"]["client-id"] == client
        actions = [s for s in steps if "mlops-actions/actions/" in s.get("uses", "")]
        assert {s["with"]["workspace"] for s in actions} == {workspace}
        assert {s["with"]["client-id"] for s in actions} == {client}
        [deploy] = [s for s in actions if s.get("id") == "deploy"]
        assert deploy["with"]["registry"] == "contoso-models"
        assert not [s for s in actions if "promote-model" in s["uses"]]  # the registry holds the one version


PRODUCTION = ("/subscriptions/22222222-3333-4444-5555-666666666666/resourceGroups/rg-ml-prod/providers/"
              "Microsoft.MachineLearningServices/workspaces/mlw-credit-prod")


def promotion_config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "mlops.yml"
    config.write_text(text)
    return config


def test_without_a_registry_production_copies_the_version_from_stagings_workspace(tmp_path):
    text = (GOLDEN / "promotion" / "mlops.yml").read_text().replace("registry:\n  name: contoso-models\n", "")
    config = promotion_config(tmp_path, text)
    assert run_generate(config) == 0
    ci = yaml.safe_load((tmp_path / ".github" / "workflows" / "ci.yml").read_text())
    cd = yaml.safe_load((tmp_path / ".github" / "workflows" / "cd.yml").read_text())
    [register] = [s for s in ci["jobs"]["train"]["steps"] if s.get("id") == "register"]
    assert "registry" not in register["with"] and register["with"]["workspace"] == "mlw-credit-staging"
    assert register["with"]["champion-workspace"] == PRODUCTION
    assert "promote-model" not in str(cd["jobs"]["staging"])
    steps = cd["jobs"]["production"]["steps"]
    names = [s.get("name") for s in steps]
    position = names.index("Copy the version from staging's workspace")
    copy = steps[position]
    assert position < names.index("Deploy beside the live deployment, at 0%")
    assert copy["uses"] == "contoso/mlops-actions/actions/promote-model@v1"
    assert {k: v for k, v in copy["with"].items() if k.startswith("from-")} == {
        "from-subscription-id": "11111111-2222-3333-4444-555555555555", "from-resource-group": "rg-ml-staging",
        "from-workspace": "mlw-credit-staging"}
    assert copy["with"]["workspace"] == "mlw-credit-prod"
    assert copy["with"]["client-id"] == "aaaaaaaa-bbbb-cccc-dddd-000000000003"
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    lint = subprocess.run([tool("actionlint"), ".github/workflows/cd.yml"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run([tool("zizmor"), "--offline", "--persona", "pedantic", "."], cwd=tmp_path,
                           capture_output=True, text=True)
    assert audit.returncode == 0 and "No findings to report" in audit.stdout, audit.stdout + audit.stderr
    # one workspace for both (the environments name none of their own): nothing to copy, the champion is here
    text = re.sub(r"\n    (subscription-id|resource-group|workspace|client-id): .*", "", text)
    assert run_generate(promotion_config(tmp_path, text)) == 0
    assert "promote-model" not in (tmp_path / ".github" / "workflows" / "cd.yml").read_text()
    ci = (tmp_path / ".github" / "workflows" / "ci.yml").read_text()
    assert "champion-endpoint: \"credit-prd\"" in ci and "champion-workspace" not in ci


def test_the_local_backend_gives_each_named_workspace_a_state_of_its_own(tmp_path):
    champion = "    - accuracy >= 0.7\n    - accuracy >= champion.accuracy\n"
    text = (GOLDEN / "local" / "mlops.yml").read_text().replace("    - accuracy >= 0.7\n", champion).replace(
        "endpoint: diabetes-staging", "endpoint: diabetes-staging\n    workspace: staging").replace(
        "endpoint: diabetes-production", "endpoint: diabetes-production\n    workspace: production")
    assert run_generate(promotion_config(tmp_path, text)) == 0
    cd = yaml.safe_load((tmp_path / ".github" / "workflows" / "cd.yml").read_text())
    monitor = yaml.safe_load((tmp_path / ".github" / "workflows" / "monitor.yml").read_text())
    [copy] = [s for s in cd["jobs"]["production"]["steps"] if "promote-model" in s.get("uses", "")]
    assert copy["with"]["from-workspace"] == "staging" and copy["with"]["workspace"] == "production"
    ci = yaml.safe_load((tmp_path / ".github" / "workflows" / "ci.yml").read_text())
    [register] = [s for s in ci["jobs"]["train"]["steps"] if s.get("id") == "register"]
    assert (register["with"]["workspace"], register["with"]["champion-workspace"]) == ("staging", "production")
    assert {s["with"]["workspace"] for s in monitor["jobs"]["monitor"]["steps"] if "mlops-actions/" in
            s.get("uses", "")} == {"production"}


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("endpoint: diabetes-staging", "endpoint: diabetes-staging\n    client-id: "
                         "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
     "environments.staging.client-id (line 22): an Azure setting, and the backend is local. Fix: remove it"),
    (lambda t: t.replace("endpoint: diabetes-staging", "endpoint: diabetes-staging\n    github-environment: prod")
     .replace("approval: true", "approval: true\n    github-environment: prod"),
     "environments.production.github-environment (line 26): 'prod' is staging's GitHub environment too"),
    (lambda t: t + "registry:\n  name: my registry\n", "registry.name (line 35): 'my registry' is not valid (The "
     "registry's name (Azure's rules"),
    (lambda t: t + "registry:\n  location: westeurope\n", "registry.location (line 35): unknown key"),
    (lambda t: t.replace("endpoint: diabetes-staging", "endpoint: diabetes-staging\n    workspace: ../up"),
     "environments.staging.workspace (line 22): '../up' is not valid"),
    (lambda t: t.replace("endpoint: diabetes-staging", "endpoint: diabetes-staging\n    workspace: staging")
     .replace("    - accuracy >= 0.7\n", "    - accuracy >= champion.accuracy\n"),
     "environments.staging.workspace (line 22): staging has a workspace of its own and production has none, so "
     "the metrics gate's champion (production's model) cannot be named. Fix: give production a workspace too"),
])
def test_bad_promotion_config_is_one_clear_error(tmp_path, edit, message):
    assert message in refusal(tmp_path, "local", edit)


def test_the_pull_request_comparison_is_a_job_of_its_own_the_only_one_that_may_write_pull_requests():
    workflow = yaml.safe_load((GOLDEN / "azureml-pipeline" / ".github" / "workflows" / "pull-request.yml").read_text())
    compare = workflow["jobs"]["compare"]
    assert compare["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    assert workflow["jobs"]["check"]["permissions"] == {"contents": "read"} and workflow["permissions"] == {}
    assert compare["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    [step] = [s for s in compare["steps"] if "compare-model" in s.get("uses", "")]
    assert step["with"]["champion-endpoint"] == "taxi-fares-prd"
    assert step["with"]["github-token"] == "${{ github.token }}"
    # the pull request's code runs here: every Azure sign-in and call is the comparison's own identity, not CI's
    signed_in = {s["with"]["client-id"] for s in compare["steps"] if "client-id" in s.get("with", {})}
    assert signed_in == {"cccccccc-bbbb-cccc-dddd-000000000009"} and len(compare["steps"]) > 3
    local = yaml.safe_load((GOLDEN / "local" / ".github" / "workflows" / "pull-request.yml").read_text())
    assert list(local["jobs"]) == ["check"]  # opt-in


def test_the_pull_request_comparison_on_azure_needs_an_identity_other_than_cis(tmp_path):
    config = tmp_path / "mlops.yml"
    text = (GOLDEN / "azureml-pipeline" / "mlops.yml").read_text()
    for client in ("", "  client-id: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n"):  # none, or CI's own
        config.write_text(re.sub(r"  client-id: cccccccc.*\n", client, text))
        with pytest.raises(ConfigError, match=r"pull-request.compare \(line \d+\): the comparison job runs the pull "
                           "request's code while signed in to Azure, so it needs an identity of its own"):
            run_generate(config)


def test_the_pull_request_comparison_needs_a_metrics_file(tmp_path):
    config = tmp_path / "mlops.yml"
    config.write_text((GOLDEN / "azureml-pipeline" / "mlops.yml").read_text().replace(
        "  metrics-file: outputs/metrics.json\n", ""))
    with pytest.raises(ConfigError, match=r"pull-request.compare \(line \d+\): compares the metrics the training "
                       "writes, and model.metrics-file is not set"):
        run_generate(config)
