"""deploy-endpoint in process, against an in-memory backend: what inputs and files it takes (inputs override the
files), what it refuses before any call, which slot it deploys to, how traffic is set, and what it reports."""

import json

import pytest

from fake_backend import FakeBackend
from mlops_actions import backends, deploy, environment
from mlops_actions.backends import DeploymentSpec, ModelVersion
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs


def read(**flags) -> Inputs:
    return Inputs.read(deploy.INPUTS, flags, environ={})


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def plan(**flags):
    return deploy.plan(read(**flags))


def refused(**flags) -> InputError:
    with pytest.raises(InputError) as raised:
        plan(**flags)
    return raised.value


# -- settings: the input, else the file's, else the default ------------------------------------------------------

def test_an_input_beats_the_file_which_beats_the_default():
    inputs = read(**{"instance-type": "Big"})
    assert deploy.setting(inputs, "instance-type", {"instance_type": "Small"}, "instance_type", "D") == "Big"
    inputs = read()
    assert deploy.setting(inputs, "instance-type", {"instance_type": "Small"}, "instance_type", "D") == "Small"
    assert inputs["instance-type"] == "Small"
    assert deploy.setting(inputs, "code-path", {"code": None}, "code", "D") == "D"
    assert deploy.setting(inputs, "scoring-script", {}, "scoring_script") == ""


# -- plan --------------------------------------------------------------------------------------------------------

def test_a_plan_from_inputs_alone(here):
    spec, version, traffic, inline = plan(**{"endpoint-name": "edge", "model-name": "churn"})
    assert (version, traffic, inline) == ("latest", 0, None)
    assert spec == DeploymentSpec(endpoint="edge", name="", model=None, instance_type="Standard_DS3_v2",
                                  instance_count=1)


def test_a_registry_reference_names_the_registry_the_model_and_its_version(here):
    inputs = read(**{"endpoint-name": "edge", "model-name": "azureml://registries/shared/models/churn/versions/3"})
    assert deploy.plan(inputs)[1] == "3"
    assert (inputs["registry"], inputs["model-name"], inputs["model-version"]) == ("shared", "churn", "3")
    inputs = read(**{"endpoint-name": "edge", "model-name": "azureml://registries/shared/models/churn",
                     "model-version": "2"})  # no version in the reference: the input's
    assert deploy.plan(inputs)[1] == "2" and (inputs["registry"], inputs["model-name"]) == ("shared", "churn")


def test_a_plan_from_the_files_as_the_cli_writes_them(here):
    (here / "endpoint.yml").write_text("$schema: https://azuremlschemas.azureedge.net/latest/"
                                       "managedOnlineEndpoint.schema.json\nname: from-file\nauth_mode: key\n")
    (here / "dep").mkdir()
    (here / "dep" / "src").mkdir()
    (here / "dep" / "src" / "score.py").write_text("def init():\n    pass\n")
    (here / "dep" / "deployment.yml").write_text(
        "name: green\nendpoint_name: ignored-because-the-endpoint-file-names-it\nmodel: azureml:churn:3\n"
        "code_configuration:\n  code: src\n  scoring_script: score.py\nenvironment: azureml:sklearn:2\n"
        "instance_type: Standard_F2s_v2\ninstance_count: 3\nenvironment_variables: {A: 1}\n"
        "request_settings: {request_timeout_ms: 900}\n")
    flags = {"endpoint-file": "endpoint.yml", "deployment-file": "dep/deployment.yml", "traffic-percent": "10",
             "collect-data": "true"}
    spec, version, traffic, inline = plan(**flags)
    assert (version, traffic, inline) == ("3", 10, None)
    assert spec == DeploymentSpec(
        endpoint="from-file", name="green", model=None, instance_type="Standard_F2s_v2", instance_count=3,
        endpoint_file=here / "endpoint.yml", deployment_file=here / "dep" / "deployment.yml",
        code_path=here / "dep" / "src", scoring_script="score.py", environment="azureml:sklearn:2",
        collect_data=True, environment_variables={"A": "1"}, request_settings={"request_timeout_ms": 900})


def test_a_code_path_input_is_relative_to_the_working_folder(here):
    (here / "src").mkdir()
    (here / "src" / "score.py").write_text("")
    (here / "deploy").mkdir()
    (here / "deploy" / "src").mkdir()  # where the file's own code would be
    (here / "deploy" / "d.yml").write_text("code_configuration: {code: elsewhere, scoring_script: score.py}\n")
    spec = plan(**{"endpoint-name": "edge", "model-name": "m", "deployment-file": "deploy/d.yml",
                   "code-path": "src"})[0]
    assert (spec.code_path, spec.scoring_script) == (here / "src", "score.py")


def test_the_deployment_file_names_the_endpoint_when_no_input_does(here):
    (here / "d.yml").write_text("endpoint_name: from-deployment\n")
    assert plan(**{"deployment-file": "d.yml", "model-name": "m"})[0].endpoint == "from-deployment"


@pytest.mark.parametrize("flags, name, problem, fix", [
    ({"model-name": "m"}, "endpoint-name", "empty", "name the endpoint, or give an endpoint-file with a name"),
    ({"endpoint-name": "edge"}, "model-name", "empty", "name the registered model to deploy (register-model's "
     "output)"),
    ({"endpoint-name": "edge", "model-name": "m", "model-version": "v2"}, "model-version", "not a version",
     "give a version number or 'latest'"),
    ({"endpoint-name": "edge", "model-name": "m", "traffic-percent": "10", "mirror-percent": "5"}, "mirror-percent",
     "set with traffic-percent 10", "a deployment takes live or mirrored traffic, not both: leave one of them at 0"),
])
def test_what_plan_refuses(here, flags, name, problem, fix):
    error = refused(**flags)
    assert (error.name, error.problem, error.fix) == (name, problem, fix)


@pytest.mark.parametrize("flags, name", [
    ({"endpoint-name": "e"}, "endpoint-name"), ({"deployment-name": "-x"}, "deployment-name"),
    ({"model-name": "-m"}, "model-name"), ({"instance-count": "0"}, "instance-count"),
    ({"instance-count": "51"}, "instance-count"), ({"instance-count": "1.5"}, "instance-count"),
    ({"traffic-percent": "101"}, "traffic-percent"), ({"traffic-percent": "10.5"}, "traffic-percent"),
    ({"mirror-percent": "-1"}, "mirror-percent"), ({"mirror-percent": "2.5"}, "mirror-percent"),
    ({"mirror-percent": "51"}, "mirror-percent"), ({"traffic-percent": "-1"}, "traffic-percent"),
    ({"collect-data": "maybe"}, "collect-data"),
])
def test_names_and_numbers_are_checked(here, flags, name):
    assert refused(**{"endpoint-name": "edge", "model-name": "m", **flags}).name == name


def test_the_edges_of_the_numbers_are_taken(here):
    spec, _, traffic, _ = plan(**{"endpoint-name": "edge", "model-name": "m", "instance-count": "50",
                                  "traffic-percent": "100", "model-version": "12"})
    assert (spec.instance_count, traffic, spec.mirror_percent) == (50, 100, 0)
    spec = plan(**{"endpoint-name": "edge", "model-name": "m", "mirror-percent": "50"})[0]
    assert spec.mirror_percent == 50


def test_code_configuration_must_be_a_mapping(here):
    (here / "d.yml").write_text("code_configuration: src/score.py\n")
    error = refused(**{"endpoint-name": "edge", "model-name": "m", "deployment-file": "d.yml"})
    assert (error.name, error.problem) == ("deployment-file", "its code_configuration is not a mapping")
    assert error.fix == "write code_configuration: {code: <folder>, scoring_script: <file>}"


@pytest.mark.parametrize("flags", [{"code-path": "src"}, {"code-path": "src", "scoring-script": "missing.py"},
                                   {"scoring-script": "score.py"}])
def test_a_scoring_script_must_be_a_file_in_the_code_path(here, flags):
    (here / "src").mkdir()
    (here / "src" / "score.py").write_text("")
    error = refused(**{"endpoint-name": "edge", "model-name": "m", **flags})
    assert error.name == "scoring-script" and error.problem.startswith("not a file in ")
    assert error.fix == "give the scoring script's path relative to code-path"


def test_a_missing_code_folder_is_the_code_paths_fault(here):
    assert refused(**{"endpoint-name": "edge", "model-name": "m", "code-path": "nope",
                      "scoring-script": "s.py"}).name == "code-path"


def test_an_inline_model_is_planned_under_the_endpoints_name(here, capsys):
    (here / "model").mkdir()
    (here / "model" / "MLmodel").write_text("flavors: {}\n")
    (here / "d.yml").write_text("model:\n  path: model\n  type: mlflow_model\n")
    spec, version, _, inline = plan(**{"endpoint-name": "edge", "deployment-file": "d.yml"})
    assert (inline.name, inline.path, version) == ("edge", here / "model", "latest")
    assert "version" not in capsys.readouterr().out


def test_an_inline_model_is_checked_before_it_is_registered(here):
    (here / "model").mkdir()
    (here / "model" / "w").write_text("1")
    (here / "d.yml").write_text("model: {path: model}\n")
    error = refused(**{"endpoint-name": "edge", "deployment-file": "d.yml"})
    assert error.problem == "its inline custom_model has no code_configuration"


@pytest.mark.parametrize("content, problem", [
    ("environment_variables: [A]\n", "its environment_variables is not a mapping"),
    ("request_settings: {request_timeout_ms: 0}\n", "request_settings.request_timeout_ms is 0, not a whole number "
     "from 1 to 3600000"),
])
def test_the_files_settings_are_checked(here, content, problem):
    (here / "d.yml").write_text(content)
    error = refused(**{"endpoint-name": "edge", "model-name": "m", "deployment-file": "d.yml"})
    assert (error.name, error.problem) == ("deployment-file", problem)


def test_an_inline_models_version_is_not_kept_and_says_so(here, capsys):
    (here / "model").mkdir()
    (here / "model" / "MLmodel").write_text("flavors: {}\n")
    (here / "d.yml").write_text("model: {path: model, type: mlflow_model, name: churn, version: 7}\n")
    plan(**{"endpoint-name": "edge", "deployment-file": "d.yml"})
    assert capsys.readouterr().out == (
        "warning [Deployment file] d.yml: its inline model's version 7 is not kept; the model is registered as the "
        "next version of churn, once per content (the same files again are the same version). Fix: register it with "
        "register-model and write model: azureml:<name>:<version>.\n")


def test_what_neither_file_honours_locally_is_one_warning(here, capsys):
    (here / "env.yml").write_text("name: e\nconda_file: {dependencies: [python=3.11]}\nimage: i\n")
    (here / "d.yml").write_text("instance_type: Standard_F2s_v2\n")
    plan(**{"endpoint-name": "edge", "model-name": "m", "deployment-file": "d.yml", "environment": "env.yml"})
    assert capsys.readouterr().out == ("warning [Deployment file] The local backend does not honour instance_type of "
                                       "d.yml and image of env.yml: Azure ML does.\n")


def test_an_environment_yamls_conda_file_is_blamed_on_the_environment_input(here):
    (here / "env.yml").write_text("name: e\nconda_file: [a]\n")
    error = refused(**{"endpoint-name": "edge", "model-name": "m", "environment": "env.yml"})
    assert (error.name, error.problem) == ("environment", "its environment's conda_file is ['a']")


def test_a_files_model_reference_this_action_does_not_read(here):
    (here / "d.yml").write_text("model: azureml:churn@production\n")
    error = refused(**{"endpoint-name": "edge", "deployment-file": "d.yml"})
    assert (error.name, error.problem) == ("deployment-file", "model 'azureml:churn@production' is not a model "
                                           "reference this action reads")


def test_a_model_input_beats_the_files_model(here):
    (here / "d.yml").write_text("model: azureml:other:2\n")
    spec, version, _, inline = plan(**{"endpoint-name": "edge", "deployment-file": "d.yml", "model-name": "churn"})
    assert (version, inline) == ("latest", None)


def test_a_deployment_file_without_a_model_needs_the_input(here):
    (here / "d.yml").write_text("instance_count: 2\n")
    assert refused(**{"endpoint-name": "edge", "deployment-file": "d.yml"}).name == "model-name"


def test_keys_the_local_backend_ignores_are_a_warning_there_only(here, capsys):
    (here / "d.yml").write_text("instance_type: Standard_F2s_v2\nliveness_probe: {}\n")
    flags = {"endpoint-name": "edge", "model-name": "m", "deployment-file": "d.yml"}
    plan(**flags)
    assert capsys.readouterr().out == ("warning [Deployment file] The local backend does not honour instance_type, "
                                       "liveness_probe of d.yml: Azure ML does.\n")
    plan(**flags, backend="azureml")
    assert capsys.readouterr().out == ""


# -- the environment ---------------------------------------------------------------------------------------------

def test_an_environment_yaml_and_its_keys_the_local_backend_ignores(here):
    (here / "conda.yml").write_text("dependencies: [python=3.11]\n")
    (here / "env.yaml").write_text("name: e\nconda_file: conda.yml\nimage: i\nbuild: {}\n")
    (here / "d.yml").write_text("liveness_probe: {}\n")
    found = deploy.deployment_environment(read(environment="env.yaml", **{"deployment-file": "d.yml"}),
                                          here / "d.yml", {"liveness_probe": {}})
    assert found[0] == here / "env.yaml" and found[1].python == "3.11"
    assert found[2] == ["liveness_probe of d.yml", "build, image of env.yaml"]


def test_an_environment_yaml_the_local_backend_honours_entirely(here):
    (here / "env.yml").write_text("name: e\nconda_file: {dependencies: [python=3.12]}\n")
    found = deploy.deployment_environment(read(environment="env.yml"), None, {})
    assert (found[0], found[1].python, found[2]) == (here / "env.yml", "3.12", [])


def test_an_environment_yaml_without_a_conda_file(here):
    (here / "env.yml").write_text("name: e\nimage: i\n")
    with pytest.raises(InputError) as raised:
        deploy.deployment_environment(read(environment="env.yml"), None, {})
    assert (raised.value.name, raised.value.problem) == ("environment", "an environment YAML without a conda_file")
    assert raised.value.fix == ("give it a conda_file (the local backend builds the environment from it), or name a "
                                "registered environment as azureml:<name>:<version>")


@pytest.mark.parametrize("name", ["azureml:env.yml", "azureml:sklearn:2", ""])
def test_a_registered_environment_is_no_file(here, name):
    assert deploy.deployment_environment(read(environment=name), None, {}) == (None, None, [])


def test_an_inline_environment_of_the_deployment_file(here):
    spec = {"environment": {"conda_file": {"dependencies": ["python=3.10"]}}}
    found = deploy.deployment_environment(read(**{"deployment-file": "d.yml"}), here / "d.yml", spec)
    assert (found[0], found[1].python, found[2]) == (None, "3.10", [])


# -- deploying ---------------------------------------------------------------------------------------------------

MODEL = ModelVersion("churn", "3", "models:/churn/3")


def spec(name="", mirror=0, endpoint="ep") -> DeploymentSpec:
    return DeploymentSpec(endpoint=endpoint, name=name, model=MODEL, mirror_percent=mirror)


def test_the_first_deployment_takes_all_the_traffic(capsys):
    backend = FakeBackend()
    assert deploy.deploy(backend, spec(), 0) is None
    assert capsys.readouterr().out == "── Endpoint ep\n── Deployment ep/blue of models:/churn/3\n"
    assert backend.calls == [("ensure_endpoint", "ep"), ("create_deployment", "blue"),
                             ("set_traffic", {"blue": 100}, None)]


@pytest.mark.parametrize("live, slot", [("blue", "green"), ("green", "blue"), ("red", "blue")])
def test_a_new_deployment_takes_the_slot_that_is_not_live_at_zero_percent(live, slot):
    backend = FakeBackend({live: 100, "other": 0})
    assert deploy.deploy(backend, spec(), 0) == live
    assert backend.calls == [("ensure_endpoint", "ep"), ("create_deployment", slot)]


def test_traffic_percent_splits_with_the_live_deployment():
    backend = FakeBackend({"blue": 100})
    assert deploy.deploy(backend, spec(), 20) == "blue"
    assert backend.calls[-1] == ("set_traffic", {"green": 20, "blue": 80}, None)


def test_mirror_percent_mirrors_the_live_requests():
    backend = FakeBackend({"blue": 100, "red": 0})
    deploy.deploy(backend, spec(mirror=10), 0)
    assert backend.calls[-1] == ("set_traffic", {"blue": 100}, {"green": 10})


def test_a_live_deployment_is_never_replaced():
    backend = FakeBackend({"blue": 60, "green": 40})
    with pytest.raises(ActionError) as raised:
        deploy.deploy(backend, spec(name="green"), 0)
    assert raised.value.title == "Deployment is live"
    assert str(raised.value) == ("deployment green takes 40% of ep's traffic ({'blue': 60, 'green': 40}); nothing "
                                 "was deployed. Fix: give another deployment-name, or move all traffic to one "
                                 "deployment with shift-traffic first.")
    assert backend.calls == [("ensure_endpoint", "ep")]


def test_a_deployment_with_one_percent_is_live():
    with pytest.raises(ActionError, match="^deployment green takes 1% of ep's traffic"):
        deploy.deploy(FakeBackend({"blue": 99, "green": 1}), spec(name="green"), 0)


def test_the_endpoint_file_is_given_to_the_backend(tmp_path):
    backend = FakeBackend()
    deploy.deploy(backend, DeploymentSpec(endpoint="ep", name="", model=MODEL, endpoint_file=tmp_path / "e.yml"), 0)
    assert backend.calls[0] == ("ensure_endpoint", "ep", tmp_path / "e.yml")


def test_a_named_deployment_at_zero_percent_is_replaced():
    backend = FakeBackend({"blue": 100, "green": 0})
    deploy.deploy(backend, spec(name="green"), 0)
    assert backend.calls == [("ensure_endpoint", "ep"), ("create_deployment", "green")]


def test_the_summary():
    endpoint = backends.Endpoint("ep", "http://127.0.0.1/score", {"blue": 90, "green": 10}, {}, {"red": 5, "grey": 1})
    assert deploy.summary(spec(name="green"), "blue", endpoint) == (
        "### 🚀 Deployed `models:/churn/3` to `ep/green`\n\n|  |  |\n|---|---|\n| Endpoint | `ep` |\n"
        "| Deployment | `green` |\n| Model | `models:/churn/3` |\n| Previous deployment | `blue` |\n"
        "| Traffic | blue 90%, green 10% |\n| Mirrored | red 5%, grey 1% |\n| Scoring URI | http://127.0.0.1/score |")
    endpoint.mirror = {}
    assert "| Previous deployment | none (first deployment) |\n| Traffic | blue 90%, green 10% |\n| Scoring URI" in \
        deploy.summary(spec(name="green"), None, endpoint)


# -- the job -----------------------------------------------------------------------------------------------------

@pytest.fixture
def job(monkeypatch, runner):
    fake, needed = FakeBackend(), []
    fake.models["churn"] = [ModelVersion("churn", "1", "models:/churn/1"),
                            ModelVersion("churn", "2", "models:/churn/2", "custom_model")]
    monkeypatch.setattr(backends, "connect", lambda inputs: {"local": fake}[inputs["backend"]])
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))

    def run(**flags) -> int:
        return deploy.run(read(**{"endpoint-name": "edge", **flags}))
    run.backend, run.runner, run.needed = fake, runner, needed
    return run


def test_a_registered_version_is_deployed_and_reported(job, capsys):
    assert job(**{"model-name": "churn", "model-version": "1"}) == 0
    assert job.needed == ["local"]
    assert job.backend.calls == [("deploying", "edge"), ("ensure_endpoint", "edge"), ("create_deployment", "blue"),
                                 ("set_traffic", {"blue": 100}, None)]
    assert capsys.readouterr().out.endswith("Deployed models:/churn/1 to edge/blue; traffic: {'blue': 100}\n")
    assert job.runner.outputs() == {"endpoint-name": "edge", "deployment-name": "blue", "previous-deployment": "",
                                    "scoring-uri": "http://127.0.0.1/edge/score", "model-uri": "models:/churn/1"}
    assert job.runner.summary().startswith("### 🚀 Deployed `models:/churn/1` to `edge/blue`")


def test_a_registrys_version_is_read_in_the_registry_and_deployed_in_the_workspace(job, monkeypatch):
    registry = FakeBackend()
    registry.models["churn"] = [ModelVersion("churn", "7", "azureml://registries/shared/models/churn/versions/7")]
    asked = []
    monkeypatch.setattr(backends, "connect_registry", lambda inputs, name="": asked.append(
        (inputs["registry"], name)) or registry)
    assert job(**{"model-name": "azureml://registries/shared/models/churn/versions/7"}) == 0
    assert asked == [("shared", "")]  # the registry the reference names, through the inputs
    assert job.runner.outputs()["model-uri"] == "azureml://registries/shared/models/churn/versions/7"
    assert ("create_deployment", "blue") in job.backend.calls  # deployed in the workspace


def test_a_custom_model_needs_its_code(job):
    with pytest.raises(InputError) as raised:
        job(**{"model-name": "churn", "model-version": "2"})
    assert (raised.value.name, raised.value.problem) == ("scoring-script", "empty, and models:/churn/2 is a "
                                                         "custom_model")
    assert raised.value.fix == "give the code-path and scoring-script (init/run) that serve it"
    assert job.backend.calls == []


def test_collecting_a_custom_models_data_is_a_warning(job, capsys):
    (job.runner.workspace / "score.py").write_text("")
    job.backend.endpoints["edge"] = backends.Endpoint("edge", "u", {"blue": 100}, {"blue": "models:/churn/1"})
    assert job(**{"model-name": "churn", "model-version": "2", "code-path": ".", "scoring-script": "score.py",
                  "collect-data": "true"}) == 0
    out = capsys.readouterr().out
    assert ("::warning title=Data collection::collect-data on a custom_model collects only what its scoring script "
            "logs with azureml-ai-monitoring's Collector (learn.microsoft.com/azure/machine-learning/how-to-collect-"
            "production-data); an MLflow model's inputs and outputs are collected as they are.\n") in out
    assert job.runner.outputs()["previous-deployment"] == "blue"
    assert "| Previous deployment | `blue` |" in job.runner.summary()
    assert job.runner.outputs()["deployment-name"] == "green"


def test_traffic_percent_reaches_the_new_deployment(job):
    job.backend.endpoints["edge"] = backends.Endpoint("edge", "u", {"blue": 100}, {"blue": "models:/churn/1"})
    assert job(**{"model-name": "churn", "model-version": "1", "traffic-percent": "25"}) == 0
    assert job.backend.calls[-1] == ("set_traffic", {"green": 25, "blue": 75}, None)


def test_collecting_an_mlflow_models_data_is_no_warning(job, capsys):
    assert job(**{"model-name": "churn", "model-version": "1", "collect-data": "true"}) == 0
    assert "warning" not in capsys.readouterr().out


def test_an_inline_model_is_registered_once_then_deployed(job):
    (job.runner.workspace / "model").mkdir()
    (job.runner.workspace / "model" / "MLmodel").write_text("flavors: {}\n")
    (job.runner.workspace / "d.yml").write_text(json.dumps({"model": {"path": "model", "type": "mlflow_model",
                                                                      "name": "inline"}}))
    assert job(**{"deployment-file": "d.yml"}) == 0
    from mlops_actions import registration

    digest = registration.content_hash(job.runner.workspace / "model")
    assert job.backend.calls[:2] == [("find_model", "inline", digest),
                                     ("register_model", "inline", str(job.runner.workspace / "model"), "mlflow_model",
                                      "", {}, {})]
    assert [call[0] for call in job.backend.calls[2:]] == ["deploying", "ensure_endpoint", "create_deployment",
                                                           "set_traffic"]
    assert job.runner.outputs()["model-uri"] == "models:/inline/1"
