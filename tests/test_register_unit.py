"""register-model in process, against an in-memory registry: its inputs' refusals, the metrics gate, the tags it
writes, idempotence by content, and what it reports."""

import hashlib
import json

import pytest

from fake_backend import FakeBackend
from mlops_actions import backends, environment, gate, register, registration
from mlops_actions.inputs import InputError, Inputs


def read(**flags) -> Inputs:
    return Inputs.read(register.INPUTS, {"model-name": "churn", "model-path": "model", **flags}, environ={})


def refused(call, *arguments) -> InputError:
    with pytest.raises(InputError) as raised:
        call(*arguments)
    return raised.value


# -- mapping inputs (tags, properties) ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", {}), ("{team: risk, stage: candidate}", {"team": "risk", "stage": "candidate"}),
    ('{"n": 3, "empty": null, "on": true}', {"n": "3", "empty": "", "on": "True"}), ("1: 2.5", {"1": "2.5"}),
])
def test_a_mapping_input_is_read_as_strings(text, expected):
    assert register.mapping(read(tags=text), "tags") == expected


def test_a_mapping_that_is_not_yaml_names_the_parser_error_and_the_fix():
    import yaml

    with pytest.raises(yaml.YAMLError) as parser:
        yaml.safe_load("{a: [1")
    assert len(str(parser.value).splitlines()) > 1
    error = refused(register.mapping, read(properties="{a: [1"), "properties")
    assert (error.name, error.value) == ("properties", "{a: [1")
    assert error.problem == f"not YAML or JSON ({str(parser.value).splitlines()[0]})"
    assert error.fix == "give a mapping such as '{team: risk}' or '{\"team\": \"risk\"}'"


@pytest.mark.parametrize("text, kind", [("[a, b]", "list"), ("just words", "str"), ("3", "int")])
def test_a_value_that_is_not_a_mapping_is_refused(text, kind):
    error = refused(register.mapping, read(tags=text), "tags")
    assert (error.name, error.problem) == ("tags", f"a {kind}, not a mapping")
    assert error.fix == "give key: value pairs, such as '{team: risk, stage: candidate}'"


# -- the metrics file and the gate -------------------------------------------------------------------------------

def test_no_metrics_file_and_no_gate_is_no_metrics(tmp_path):
    assert register.read_metrics(read(), tmp_path) == {}


def test_a_gate_without_a_metrics_file_is_refused(tmp_path):
    error = refused(register.read_metrics, read(**{"metrics-gate": "auc > 0.5"}), tmp_path)
    assert (error.name, error.problem, error.fix) == ("metrics-gate", "set without a metrics-file",
                                                      "give the metrics-file the gate reads")


@pytest.mark.parametrize("content, problem, fix", [
    ("{nope", "not JSON (", "write the metrics as a JSON object"),
    ("[0.9]", "not a JSON object", 'write {"metric": value, ...}'),
])
def test_a_metrics_file_that_is_not_a_json_object_is_refused(tmp_path, content, problem, fix):
    (tmp_path / "metrics.json").write_text(content)
    error = refused(register.read_metrics, read(**{"metrics-file": "metrics.json"}), tmp_path)
    assert error.name == "metrics-file" and error.problem.startswith(problem) and error.fix == fix


def test_only_numbers_are_metrics(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"auc": 0.91, "epochs": 3, "note": "ok", "nothing": None}))
    assert register.read_metrics(read(**{"metrics-file": "metrics.json"}), tmp_path) == {"auc": 0.91, "epochs": 3}


# -- the model's source ------------------------------------------------------------------------------------------

def mlflow_folder(tmp_path, name="model"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.pkl").write_bytes(b"weights")
    return folder


def test_an_azureml_uri_is_its_own_hash_on_azureml():
    uri = "azureml://datastores/workspaceblobstore/paths/model"
    inputs = read(**{"model-path": uri, "backend": "azureml"})
    assert register.model_source(inputs, None, "mlflow_model") == (uri, hashlib.sha256(uri.encode()).hexdigest())


def test_an_azureml_uri_is_refused_by_the_local_backend(tmp_path):
    error = refused(register.model_source, read(**{"model-path": "azureml://datastores/x/paths/m"}), tmp_path,
                    "mlflow_model")
    assert (error.name, error.problem) == ("model-path", "an azureml:// URI, which only the azureml backend reads")
    assert error.fix == "give a local folder, or set backend to azureml"


def test_a_folder_is_checked_and_hashed(tmp_path):
    folder = mlflow_folder(tmp_path)
    assert register.model_source(read(), tmp_path, "mlflow_model") == (folder, registration.content_hash(folder))
    (folder / "MLmodel").unlink()
    assert refused(register.model_source, read(), tmp_path, "mlflow_model").problem.startswith("not an MLflow model")


def test_a_missing_model_path(tmp_path):
    error = refused(register.check_model_folder, read(), tmp_path, "custom_model")
    assert (error.problem, error.fix) == ("no such file or folder", "give the folder the training wrote the model to")


def test_an_mlflow_model_needs_its_mlmodel_file(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    error = refused(register.check_model_folder, read(), tmp_path, "mlflow_model")
    assert error.problem == "not an MLflow model (no MLmodel file in it)"
    assert error.fix == ("point at the folder mlflow.<flavor>.save_model wrote, or set model-type to "
                         "custom_model")
    assert register.check_model_folder(read(), tmp_path, "custom_model") == tmp_path / "model"


def test_an_mlmodel_folder_is_not_an_mlmodel_file(tmp_path):
    (tmp_path / "model" / "MLmodel").mkdir(parents=True)
    (tmp_path / "model" / "MLmodel" / "x").write_text("x")
    assert refused(register.check_model_folder, read(), tmp_path, "mlflow_model").problem.startswith("not an MLflow")


def test_a_folder_of_only_folders_is_empty(tmp_path):
    (tmp_path / "model" / "inner").mkdir(parents=True)
    error = refused(register.check_model_folder, read(), tmp_path, "custom_model")
    assert (error.problem, error.fix) == ("an empty folder", "point at the folder with the model's files")


def test_a_single_file_is_a_custom_model(tmp_path):
    (tmp_path / "model").write_bytes(b"pickle")
    assert register.check_model_folder(read(), tmp_path, "custom_model") == tmp_path / "model"


# -- the summary -------------------------------------------------------------------------------------------------

MODEL = backends.ModelVersion("churn", "2", "models:/churn/2")


def test_summary_of_a_new_version_with_its_gate():
    conditions = [gate.Condition("auc > 0.8", "auc", ">", 0.8), gate.Condition("n < 2", "n", "<", 2.0)]
    checks = [gate.Check(conditions[0], 0.9, None, True, "auc = 0.9"),
              gate.Check(conditions[1], 3, None, False, "n = 3")]
    assert register.summary(MODEL, False, checks, {"auc": 0.9, "n": 3, "f1": 0.5}, None) == (
        "### ✅ Model registered as `models:/churn/2`\n\n| Metric | Value | Condition | Result |\n|---|---|---|---|\n"
        "| auc | 0.9 | auc > 0.8 | ✅ met |\n| n | 3 | n < 2 | ❌ not met |\n| f1 | 0.5 |  |  |")


def test_summary_of_an_existing_version_lists_its_metrics_without_a_gate():
    assert register.summary(MODEL, True, [], {"auc": 0.9}, None) == (
        "### ✅ Model already registered as `models:/churn/2`\n\n| Metric | Value | Condition | Result |\n"
        "|---|---|---|---|\n| auc | 0.9 |  |  |")


def test_summary_of_a_failed_gate_and_of_no_metrics():
    assert register.summary(None, False, [], {}, None) == "### ❌ Model not registered: the metrics gate failed"


def test_summary_against_a_champion_names_it_and_shows_its_column():
    champion = gate.Champion("prod", backends.ModelVersion("churn", "1", "models:/churn/1",
                                                           tags={"metric.auc": "0.8"}))
    condition = gate.Condition("auc >= champion.auc", "auc", ">=", 0.0, "auc")
    checks = [gate.Check(condition, 0.9, 0.8, True, "auc = 0.9, champion.auc = 0.8")]
    assert register.summary(MODEL, False, checks, {"auc": 0.9}, champion) == (
        "### ✅ Model registered as `models:/churn/2`\n\nChampion: `models:/churn/1`, serving `prod`\n\n"
        "| Metric | Challenger | Champion | Condition | Result |\n|---|---|---|---|---|\n"
        "| auc | 0.9 | 0.8 | auc >= champion.auc | ✅ met |")


def test_summary_without_a_champion_yet_says_so_and_without_metrics_has_no_table():
    champion = gate.Champion("prod", None, "endpoint prod does not exist yet")
    assert register.summary(MODEL, True, [], {}, champion) == (
        "### ✅ Model already registered as `models:/churn/2`\n\nNo champion yet (endpoint prod does not exist yet): "
        "the conditions against it are skipped.")


# -- the job -----------------------------------------------------------------------------------------------------

@pytest.fixture
def job(monkeypatch, runner):
    """register.run against one in-memory registry; the extras it would need are recorded, not installed."""
    fake, needed = FakeBackend(), []
    monkeypatch.setattr(backends, "connect", lambda inputs: {"local": fake}[inputs["backend"]])
    monkeypatch.setattr(backends, "connect_champion", lambda inputs: {"local": fake}[inputs["backend"]])
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))
    mlflow_folder(runner.workspace)

    def run(**flags) -> int:
        return register.run(read(**flags))
    run.backend, run.runner, run.needed = fake, runner, needed
    return run


def test_a_new_version_is_registered_with_its_metrics_tags_and_properties(job, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.9}')
    assert job(**{"metrics-file": "metrics.json", "metrics-gate": "auc >= 0.9", "tags": "{team: risk}",
                  "properties": "{owner: ana}", "description": "first", "model-type": "mlflow_model"}) == 0
    digest = registration.content_hash(job.runner.workspace / "model")
    assert job.backend.calls == [
        ("find_model", "churn", digest),
        ("register_model", "churn", str(job.runner.workspace / "model"), "mlflow_model", "first",
         {"git.commit": "abc123", "metric.auc": "0.9", "team": "risk"}, {"owner": "ana"})]
    assert job.needed == ["local"]
    assert capsys.readouterr().out.endswith("Registered models:/churn/1\n")
    assert job.runner.outputs() == {"model-name": "churn", "model-version": "1", "model-uri": "models:/churn/1",
                                    "already-registered": "false"}
    assert job.runner.summary().startswith("### ✅ Model registered as `models:/churn/1`\n\n| Metric | Value | "
                                           "Condition | Result |\n|---|---|---|---|\n"
                                           "| auc | 0.9 | auc >= 0.9 | ✅ met |")


def test_the_same_bytes_from_another_folder_return_the_same_version(job, capsys):
    assert job() == 0
    capsys.readouterr()
    (job.runner.workspace / "elsewhere").mkdir()
    (job.runner.workspace / "model").rename(job.runner.workspace / "elsewhere" / "model")
    assert job(**{"model-path": "elsewhere/model"}) == 0
    assert [call[0] for call in job.backend.calls] == ["find_model", "register_model", "find_model"]
    assert capsys.readouterr().out == "Found models:/churn/1\n"
    assert job.runner.outputs()["already-registered"] == "true"
    assert "already registered as `models:/churn/1`" in job.runner.summary()


def test_a_failed_gate_registers_nothing_and_says_which_condition(job, capsys):
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.7, "f1": 0.9}')
    assert job(**{"metrics-file": "metrics.json", "metrics-gate": "auc > 0.7, f1 > 0.5"}) == 1
    assert job.backend.calls == []
    assert capsys.readouterr().out == ("::error title=Metrics gate::The metrics gate failed: auc > 0.7 is not met "
                                       "(auc = 0.7); nothing was registered.\n")
    assert job.runner.summary().startswith("### ❌ Model not registered: the metrics gate failed\n\n| Metric | "
                                           "Value | Condition | Result |\n|---|---|---|---|\n"
                                           "| auc | 0.7 | auc > 0.7 | ❌ not met |")
    assert job.runner.outputs() == {}


def test_metrics_without_a_gate_are_registered_and_listed(job):
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.9, "f1": 0.5}')
    assert job(**{"metrics-file": "metrics.json"}) == 0
    assert job.backend.calls[1][5] == {"metric.auc": "0.9", "metric.f1": "0.5"}
    assert job.runner.summary().endswith("| Metric | Value | Condition | Result |\n|---|---|---|---|\n"
                                         "| auc | 0.9 |  |  |\n| f1 | 0.5 |  |  |\n\n")


def test_an_mlflow_model_without_its_mlmodel_file_is_refused_by_default(job):
    (job.runner.workspace / "model" / "MLmodel").unlink()
    with pytest.raises(InputError) as raised:
        job()
    assert raised.value.problem == "not an MLflow model (no MLmodel file in it)" and job.backend.calls == []


def test_tags_register_model_sets_itself_are_refused(job):
    with pytest.raises(InputError) as raised:
        job(tags="{git.commit: x, team: a, metric.auc: 1}")
    assert raised.value.name == "tags"
    assert raised.value.problem == ("git.commit, metric.auc is a tag register-model sets itself (where the version "
                                    "came from, its metrics, its content)")
    assert raised.value.fix == ("give your tags names that do not start with git., github., metric., property., "
                                "mlops-actions.")
    assert job.backend.calls == []


@pytest.mark.parametrize("tag", ["github.run", "property.x", "mlops-actions.content-hash"])
def test_every_provenance_prefix_is_reserved(job, tag):
    with pytest.raises(InputError):
        job(tags=f"{{{tag}: x}}")


def test_a_bad_model_name_is_refused_before_anything_is_read(job):
    with pytest.raises(InputError) as raised:
        job(**{"model-name": "-churn"})
    assert raised.value.name == "model-name" and job.needed == []


# -- against a champion ------------------------------------------------------------------------------------------

def printed(capsys) -> list[str]:
    """The job's lines less the log groups registration opens."""
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith(("::group::", "::endgroup"))]


def serving(job, auc: str) -> None:
    """Endpoint prod serving version 1 of churn (other bytes than the challenger's), registered with this auc."""
    job.backend.models["churn"] = [backends.ModelVersion("churn", "1", "models:/churn/1", "mlflow_model", {
        "metric.auc": auc, backends.CONTENT_HASH_TAG: "other"})]
    job.backend.endpoints["prod"] = backends.Endpoint("prod", "", {"blue": 100}, {"blue": "models:/churn/1"})


def test_a_challenger_that_beats_the_champion_is_registered(job, capsys):
    serving(job, "0.9")
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.895}')
    assert job(**{"metrics-file": "metrics.json", "metrics-gate": "auc >= champion.auc - 0.005",
                  "champion-endpoint": "prod"}) == 0
    assert printed(capsys) == ["Champion: `models:/churn/1`, serving `prod`", "Registered models:/churn/2"]
    assert job.runner.summary() == (
        "### ✅ Model registered as `models:/churn/2`\n\nChampion: `models:/churn/1`, serving `prod`\n\n"
        "| Metric | Challenger | Champion | Condition | Result |\n|---|---|---|---|---|\n"
        "| auc | 0.895 | 0.9 | auc >= champion.auc - 0.005 | ✅ met |\n\n")


def test_a_challenger_below_the_champion_registers_nothing(job, capsys):
    serving(job, "0.9")
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.8949}')
    assert job(**{"metrics-file": "metrics.json", "metrics-gate": "auc >= champion.auc - 0.005",
                  "champion-endpoint": "prod"}) == 1
    assert [call[0] for call in job.backend.calls] == []
    assert capsys.readouterr().out == (
        "Champion: `models:/churn/1`, serving `prod`\n::error title=Metrics gate::The metrics gate failed: auc >= "
        "champion.auc - 0.005 is not met (auc = 0.8949, champion.auc = 0.9 - 0.005); nothing was registered.\n")
    assert "| auc | 0.8949 | 0.9 | auc >= champion.auc - 0.005 | ❌ not met |" in job.runner.summary()
    assert job.runner.outputs() == {}


def test_no_champion_yet_skips_its_conditions_and_says_so(job, capsys):
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.5}')
    assert job(**{"metrics-file": "metrics.json", "metrics-gate": "auc >= champion.auc",
                  "champion-endpoint": "prod"}) == 0
    assert printed(capsys) == [
        "No champion yet (endpoint prod does not exist yet): the conditions against it are skipped.",
        "auc >= champion.auc: skipped: no champion (endpoint prod does not exist yet)", "Registered models:/churn/1"]
    assert "| auc | 0.5 | – | auc >= champion.auc | ⏭️ skipped |" in job.runner.summary()


def test_the_champion_with_the_challengers_own_bytes_is_not_compared_with(job, capsys):
    assert job() == 0
    job.backend.endpoints["prod"] = backends.Endpoint("prod", "", {"blue": 100}, {"blue": "models:/churn/1"})
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.5}')
    capsys.readouterr()
    assert job(**{"metrics-file": "metrics.json", "metrics-gate": "auc > champion.auc",
                  "champion-endpoint": "prod"}) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "auc > champion.auc: skipped: the champion models:/churn/1 has the challenger's own files",
        "Found models:/churn/1"]


def test_a_bad_champion_endpoint_name_is_refused(job):
    with pytest.raises(InputError) as raised:
        job(**{"champion-endpoint": "-prod"})
    assert raised.value.name == "champion-endpoint" and job.backend.calls == []


# -- into a registry, and from one -------------------------------------------------------------------------------

@pytest.fixture
def registries(job, monkeypatch):
    """Azure ML registries by name, each an in-memory registry."""
    found = {}
    monkeypatch.setattr(backends, "connect_registry", lambda inputs, registry="": found.setdefault(
        registry or inputs["registry"], FakeBackend()) if inputs["backend"] == "local" else None)
    return found


def test_with_a_registry_the_model_is_registered_there_and_not_in_the_workspace(job, registries):
    assert job(registry="shared") == 0
    assert [call[0] for call in registries["shared"].calls] == ["find_model", "register_model"]
    assert job.backend.calls == [] and job.runner.outputs()["model-uri"] == "models:/churn/1"


def test_a_registry_version_is_copied_with_its_tags_and_lineage(job, registries, capsys):
    shared = registries.setdefault("shared", FakeBackend())
    shared.models["churn"] = [backends.ModelVersion("churn", "3", "azureml://registries/shared/models/churn/versions/3",
                                                    tags={"metric.auc": "0.9", backends.CONTENT_HASH_TAG: "h"})]
    uri = "azureml://registries/shared/models/churn/versions/3"
    assert job(**{"model-path": uri}) == 0
    assert job.backend.calls == [
        ("find_model", "churn", "h"),
        ("copy_model", uri, {"metric.auc": "0.9", backends.CONTENT_HASH_TAG: "h",
                             "mlops-actions.promoted-from": f"registry shared: {uri}"})]
    assert job.backend.copied_from is shared
    assert job.runner.outputs() == {"model-name": "churn", "model-version": "3", "model-uri": "models:/churn/3",
                                    "already-registered": "false"}
    assert capsys.readouterr().out.splitlines() == [
        f"::group::Promoting {uri} from registry shared into the default workspace", "::endgroup::",
        "Registered models:/churn/3"]
    assert job(**{"model-path": uri}) == 0
    assert job.runner.outputs()["already-registered"] == "true"
    assert capsys.readouterr().out == "Found models:/churn/3\n"


@pytest.mark.parametrize("uri, problem", [
    ("azureml://registries/shared/models/other/versions/3", "a registry reference to 'other' version 3, not to "
     "churn's version"),
    ("azureml://registries/shared/models/churn", "a registry reference to 'churn' without a version, not to churn's "
     "version"),
])
def test_a_registry_reference_to_another_model_or_no_version_is_refused(job, uri, problem):
    with pytest.raises(InputError) as raised:
        job(**{"model-path": uri})
    assert (raised.value.name, raised.value.problem) == ("model-path", problem)
    assert raised.value.fix == "write azureml://registries/<registry>/models/<model-name>/versions/<version>"
    assert job.backend.calls == []


def test_a_datastore_uri_cannot_go_into_a_registry():
    inputs = read(**{"model-path": "azureml://datastores/blob/paths/m", "backend": "azureml", "registry": "shared"})
    error = refused(register.model_source, inputs, None, "mlflow_model")
    assert (error.name, error.problem) == ("model-path", "a workspace's datastore URI, which registry shared cannot "
                                                         "hold")
    assert error.fix == ("give the model's folder (it is uploaded into the registry), or register it in the workspace "
                         "and share it with promote-model")


def test_a_champion_without_the_compared_metric_is_bad_input(job):
    serving(job, "0.9")
    job.backend.models["churn"][0].tags = {"metric.f1": "0.5"}
    (job.runner.workspace / "metrics.json").write_text('{"auc": 0.9}')
    with pytest.raises(InputError) as raised:
        job(**{"metrics-file": "metrics.json", "metrics-gate": "auc >= champion.auc", "champion-endpoint": "prod"})
    assert (raised.value.name, raised.value.problem) == (
        "metrics-gate", "the champion models:/churn/1 (serving prod) has no metric 'auc' (its metric tags: f1)")
    assert job.backend.calls == []
