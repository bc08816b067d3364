"""Azure ML CLI v2 deployment files read in process: each key as the reference YAML writes it, and each refusal
with the input it blames, the problem and the fix."""

import pytest

from mlops_actions import cli_yaml, deploy
from mlops_actions.inputs import InputError, Inputs


def read(**flags) -> Inputs:
    return Inputs.read(deploy.INPUTS, {"endpoint-name": "an-endpoint", **flags}, environ={})


def refused(call, *arguments) -> InputError:
    with pytest.raises(InputError) as raised:
        call(*arguments)
    return raised.value


# -- reading a file ----------------------------------------------------------------------------------------------

def test_no_file_is_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli_yaml.read(read(), "deployment-file") == (None, {})


def test_a_file_is_read_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.yml").write_text("name: blue\ninstance_count: 2\n")
    assert cli_yaml.read(read(**{"deployment-file": "d.yml"}), "deployment-file") == (
        tmp_path / "d.yml", {"name": "blue", "instance_count": 2})


@pytest.mark.parametrize("content, problem, fix", [
    ("name: [blue\n", "d.yml is not valid YAML (", "fix the file"),
    (b"name: \xff\xfe\n", "d.yml is not valid YAML (", "fix the file"),
    ("- a\n- b\n", "d.yml is not a YAML mapping", "give an Azure ML CLI v2 online endpoint/deployment YAML"),
    ("", "d.yml is not a YAML mapping", "give an Azure ML CLI v2 online endpoint/deployment YAML"),
])
def test_a_file_that_is_not_a_yaml_mapping_is_blamed_on_its_input(tmp_path, monkeypatch, content, problem, fix):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.yml").write_bytes(content if isinstance(content, bytes) else content.encode())
    error = refused(cli_yaml.read, read(**{"deployment-file": "d.yml"}), "deployment-file")
    assert (error.name, error.value) == ("deployment-file", "d.yml")
    assert error.problem.startswith(problem) and "\n" not in error.problem and error.fix == fix


def test_a_yaml_error_is_named_by_its_first_line(tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.yml").write_text("name: [blue\n")
    with pytest.raises(yaml.YAMLError) as parser:
        yaml.safe_load("name: [blue\n")
    error = refused(cli_yaml.read, read(**{"deployment-file": "d.yml"}), "deployment-file")
    assert error.problem == f"d.yml is not valid YAML ({str(parser.value).splitlines()[0]})"


@pytest.mark.parametrize("content", [{"model": {"path": "../outside"}}, {"model": "../outside"}])
def test_an_inline_model_outside_the_workspace_is_refused_on_a_runner(tmp_path, monkeypatch, content):
    from conftest import as_runner

    (tmp_path / "outside").mkdir()
    (tmp_path / "workspace").mkdir()
    as_runner(monkeypatch, tmp_path / "runner", tmp_path / "workspace")
    with pytest.raises(InputError) as raised:
        cli_yaml.model(read(), tmp_path / "workspace" / "d.yml", content, "an-endpoint")
    assert (raised.value.name, raised.value.value) == ("deployment-file", "../outside")
    assert "outside the workspace" in raised.value.problem


def test_a_conda_file_outside_the_workspace_is_refused_on_a_runner(tmp_path, monkeypatch):
    from conftest import as_runner

    (tmp_path / "conda.yml").write_text("dependencies: []\n")
    (tmp_path / "workspace").mkdir()
    as_runner(monkeypatch, tmp_path / "runner", tmp_path / "workspace")
    with pytest.raises(InputError) as raised:
        cli_yaml.conda_environment(read(), "environment", tmp_path / "workspace" / "e.yml",
                                   {"conda_file": "../conda.yml"})
    assert (raised.value.name, raised.value.value) == ("environment", "../conda.yml")
    assert "outside the workspace" in raised.value.problem


def test_recursion_while_parsing_is_named_as_too_deep(tmp_path, monkeypatch):
    import yaml

    def deep(text):
        raise RecursionError
    monkeypatch.setattr(yaml, "safe_load", deep)
    (tmp_path / "d.yml").write_text("a: 1\n")
    error = refused(cli_yaml.load, read(**{"deployment-file": "d.yml"}), "deployment-file", tmp_path / "d.yml", "x")
    assert (error.name, error.problem, error.fix) == ("deployment-file", "d.yml is nested too deeply to read",
                                                      "fix the file")


# -- the model ---------------------------------------------------------------------------------------------------

def model(tmp_path, value, endpoint="an-endpoint"):
    return cli_yaml.model(read(), tmp_path / "d.yml", {"model": value} if value is not None else {}, endpoint)


@pytest.mark.parametrize("value, expected", [
    ("azureml:churn:3", ("churn", "3")), ("azureml:churn@latest", ("churn", "latest")), (None, None),
])
def test_a_model_reference(tmp_path, value, expected):
    assert model(tmp_path, value) == expected


@pytest.mark.parametrize("value", ["azureml:churn@production", "azureml:churn", "azureml:a:1:2", "azureml:a/b:1",
                                   "azureml:churn@"])
def test_a_reference_this_action_does_not_read(tmp_path, value):
    error = refused(model, tmp_path, value)
    assert (error.name, error.problem) == ("deployment-file", f"model {value!r} is not a model reference this "
                                           "action reads")
    assert error.fix == "write azureml:<name>:<version>, azureml:<name>@latest, or an inline model"


@pytest.mark.parametrize("value", [3, ["m"], {"name": "m"}, {"path": ""}, {"path": 3}, ""])
def test_a_model_that_is_neither_reference_nor_inline(tmp_path, value):
    error = refused(model, tmp_path, value)
    assert error.problem == "its model is neither a reference nor an inline model with a path"
    assert error.fix == "write azureml:<name>:<version>, or model: {name: ..., path: ...}"


@pytest.mark.parametrize("uri", ["azureml://datastores/x/paths/m", "http://h/m", "https://h/m", "wasbs://c@a/m",
                                 "abfss://c@a/m"])
def test_an_inline_model_at_a_uri_must_be_registered_first(tmp_path, uri):
    error = refused(model, tmp_path, {"path": uri})
    assert error.problem == f"its inline model's path {uri!r} is a URI"
    assert error.fix == "register the model first (register-model) and reference it as azureml:<name>:<version>"


def test_an_inline_models_type_must_be_deployable(tmp_path):
    error = refused(model, tmp_path, {"path": "m", "type": "triton_model"})
    assert (error.problem, error.fix) == ("its inline model's type 'triton_model' is not deployable here",
                                          "use custom_model or mlflow_model")


def test_an_inline_model_that_does_not_exist_next_to_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "m").mkdir()  # beside the working folder, not beside the file
    error = cli_yaml.model
    with pytest.raises(InputError) as raised:
        error(read(), tmp_path / "sub" / "d.yml", {"model": {"path": "m"}}, "an-endpoint")
    assert raised.value.problem == "its inline model's path 'm' does not exist next to it"
    assert raised.value.fix == "give the model's folder or file, relative to the deployment file"


def test_an_inline_model_is_read_relative_to_the_file(tmp_path):
    (tmp_path / "m").mkdir()
    assert model(tmp_path, "m") == cli_yaml.InlineModel(tmp_path / "m", "an-endpoint", "custom_model", "")
    assert model(tmp_path, {"path": "m", "name": "churn", "type": "mlflow_model", "version": 4}) == \
        cli_yaml.InlineModel(tmp_path / "m", "churn", "mlflow_model", "4")
    assert model(tmp_path, {"path": "m", "name": "", "type": None, "version": None}) == \
        cli_yaml.InlineModel(tmp_path / "m", "an-endpoint", "custom_model", "")


# -- an inline model's own checks --------------------------------------------------------------------------------

def test_an_inline_mlflow_model_needs_its_mlmodel_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w").write_text("1")
    error = refused(cli_yaml.check_inline, read(), cli_yaml.InlineModel(tmp_path / "m", "x", "mlflow_model"), None)
    assert (error.name, error.problem) == ("deployment-file", f"its inline mlflow_model {tmp_path / 'm'} has no "
                                           "MLmodel file")
    assert error.fix == "point model.path at the folder mlflow saved, or set model.type: custom_model"
    (tmp_path / "m" / "MLmodel").write_text("flavors: {}\n")
    cli_yaml.check_inline(read(), cli_yaml.InlineModel(tmp_path / "m", "x", "mlflow_model"), None)


def test_an_inline_model_in_an_empty_folder(tmp_path):
    (tmp_path / "m" / "inner").mkdir(parents=True)
    error = refused(cli_yaml.check_inline, read(), cli_yaml.InlineModel(tmp_path / "m", "x", "custom_model"),
                    tmp_path)
    assert (error.problem, error.fix) == (f"its inline model {tmp_path / 'm'} is an empty folder",
                                          "point model.path at the model's files")


def test_an_inline_custom_model_needs_code_to_serve_it(tmp_path):
    (tmp_path / "m").write_text("weights")
    inline = cli_yaml.InlineModel(tmp_path / "m", "x", "custom_model")
    error = refused(cli_yaml.check_inline, read(), inline, None)
    assert (error.problem, error.fix) == ("its inline custom_model has no code_configuration",
                                          "give code_configuration (code and scoring_script) that serves it")
    cli_yaml.check_inline(read(), inline, tmp_path)


# -- environment variables and request settings ------------------------------------------------------------------

def test_environment_variables_as_a_process_takes_them():
    assert cli_yaml.environment_variables(read(), {}) == {}
    assert cli_yaml.environment_variables(read(), {"environment_variables": None}) == {}
    assert cli_yaml.environment_variables(read(), {"environment_variables": {
        "A": "Mixed Case", "_B2": 3, "ON": True, "OFF": False, "NONE": None, "F": 1.5}}) == {
        "A": "Mixed Case", "_B2": "3", "ON": "true", "OFF": "false", "NONE": "", "F": "1.5"}


@pytest.mark.parametrize("value, problem, fix", [
    (["A=1"], "its environment_variables is not a mapping", "write NAME: value pairs"),
    ({"GOOD": 1, "2BAD": 1}, "environment_variables has names a process cannot take ('2BAD')",
     "use letters, digits and underscores, not starting with a digit"),
    ({"A-B": 1}, "environment_variables has names a process cannot take ('A-B')",
     "use letters, digits and underscores, not starting with a digit"),
    ({"A": {"b": 1}}, "environment_variables.A is not a value a process can take (a mapping, a list or a NUL)",
     "give each variable a string, number or boolean"),
    ({"OK": "1", "L": [1]}, "environment_variables.L is not a value a process can take (a mapping, a list or a NUL)",
     "give each variable a string, number or boolean"),
    ({"N": "a\0b"}, "environment_variables.N is not a value a process can take (a mapping, a list or a NUL)",
     "give each variable a string, number or boolean"),
])
def test_environment_variables_a_process_cannot_take(value, problem, fix):
    error = refused(cli_yaml.environment_variables, read(), {"environment_variables": value})
    assert (error.name, error.problem, error.fix) == ("deployment-file", problem, fix)


def test_request_settings_within_their_bounds():
    assert cli_yaml.request_settings(read(), {}) == {}
    assert cli_yaml.request_settings(read(), {"request_settings": {
        "request_timeout_ms": 1, "max_concurrent_requests_per_instance": 3_600_000, "max_queue_wait_ms": 9}}) == {
        "request_timeout_ms": 1, "max_concurrent_requests_per_instance": 3_600_000}


def test_request_settings_that_are_not_a_mapping():
    error = refused(cli_yaml.request_settings, read(), {"request_settings": [1]})
    assert (error.problem, error.fix) == ("its request_settings is not a mapping", "write request_timeout_ms and "
                                          "max_concurrent_requests_per_instance under it")


@pytest.mark.parametrize("value", [0, 3_600_001, True, "5", 2.5, -1])
def test_a_request_setting_out_of_bounds(value):
    error = refused(cli_yaml.request_settings, read(), {"request_settings": {"request_timeout_ms": value}})
    assert error.problem == f"request_settings.request_timeout_ms is {value!r}, not a whole number from 1 to 3600000"
    assert error.fix == "set request_settings.request_timeout_ms to a whole number"


# -- conda environments ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("environment", [None, "azureml:env:1", {"image": "x"}, {"conda_file": None}])
def test_no_conda_file_is_no_conda_environment(tmp_path, environment):
    assert cli_yaml.conda_environment(read(), "deployment-file", tmp_path / "d.yml", environment) is None


def test_a_conda_file_by_path_is_read_relative_to_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "conda.yml").write_text("dependencies: [python=3.11, {pip: [joblib]}]\n")
    found = cli_yaml.conda_environment(read(), "environment", tmp_path / "env" / "e.yml", {"conda_file": "conda.yml"})
    assert (found.python, found.pip, found.source, found.folder) == ("3.11", ["joblib"], "conda.yml", tmp_path / "env")


def test_a_conda_file_in_place(tmp_path):
    found = cli_yaml.conda_environment(read(), "deployment-file", tmp_path / "d.yml",
                                       {"conda_file": {"dependencies": ["scipy=1.10"]}})
    assert (found.conda, found.source, found.folder) == (["scipy==1.10.*"], "the conda_file in d.yml", tmp_path)


def test_a_conda_file_that_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    error = refused(cli_yaml.conda_environment, read(), "deployment-file", tmp_path / "d.yml",
                    {"conda_file": "conda.yml"})
    assert (error.name, error.problem) == ("deployment-file", "its environment's conda_file 'conda.yml' is not a "
                                           "file next to d.yml")
    assert error.fix == "give the conda file's path relative to the file that names it"


@pytest.mark.parametrize("conda", ["", 3, ["a"]])
def test_a_conda_file_that_is_neither_path_nor_mapping(tmp_path, conda):
    error = refused(cli_yaml.conda_environment, read(), "deployment-file", tmp_path / "d.yml", {"conda_file": conda})
    assert (error.problem, error.fix) == (f"its environment's conda_file is {conda!r}",
                                          "give a conda file's path, or its content as a mapping")


def test_a_conda_file_conda_would_refuse(tmp_path):
    error = refused(cli_yaml.conda_environment, read(), "environment", tmp_path / "d.yml",
                    {"conda_file": {"dependencies": 3}})
    assert (error.name, error.problem) == ("environment", "the conda file the conda_file in d.yml: its dependencies "
                                           "is not a list")
    assert error.fix == "write dependencies as conda does: package specifications and one `- pip: [...]` list"


def test_a_conda_file_by_path_that_is_not_a_mapping(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conda.yml").write_text("- a\n")
    error = refused(cli_yaml.conda_environment, read(), "environment", tmp_path / "d.yml", {"conda_file": "conda.yml"})
    assert (error.name, error.problem, error.fix) == ("environment", "conda.yml is not a YAML mapping",
                                                      "give a conda environment file (dependencies: [...])")


# -- what the local backend does not honour ----------------------------------------------------------------------

def test_keys_the_local_backend_does_not_honour():
    assert cli_yaml.not_honoured_locally({"$schema": "s", "name": "b", "endpoint_name": "e", "model": "m",
                                          "code_configuration": {}, "instance_count": 1, "environment_variables": {},
                                          "request_settings": {"request_timeout_ms": 1}}) == []
    assert cli_yaml.not_honoured_locally({"instance_type": "x", "environment": "azureml:e:1", "liveness_probe": {},
                                          "request_settings": {"max_queue_wait_ms": 1, "request_timeout_ms": 2}}) \
        == ["environment", "instance_type", "liveness_probe", "request_settings.max_queue_wait_ms"]
    assert cli_yaml.not_honoured_locally({"environment": {"conda_file": "c.yml", "image": "i", "name": "n",
                                                          "build": {}}, "scale_settings": {}}) == [
        "scale_settings", "environment.build", "environment.image"]
    assert cli_yaml.not_honoured_locally({"environment": {"image": "i"}, "request_settings": None}) == ["environment"]


def test_an_environment_honours_only_its_conda_file_and_labels():
    assert cli_yaml.not_honoured_in_environment({"$schema": "s", "name": "n", "version": "1", "description": "d",
                                                 "tags": {}, "conda_file": "c", "image": "i", "build": {}}) == \
        ["build", "image"]
