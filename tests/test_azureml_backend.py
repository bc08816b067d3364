"""The azureml backend through the real azure-ai-ml SDK, against the loopback emulator of the Azure ML
REST API (reached through azure-core's transport; the SDK is not patched).

Registration here is from azureml:// datastore URIs: uploading a local folder goes through a blob client
the SDK builds itself, outside the transport, and is not emulated."""

import json

import pytest

from mlops_actions import deploy, github, register, smoke, traffic
from mlops_actions.inputs import InputError, Inputs

URI = "azureml://datastores/workspaceblobstore/paths/models/diabetes/1"
URI2 = "azureml://datastores/workspaceblobstore/paths/models/diabetes/2"


@pytest.fixture
def azure(emulate, runner, tmp_path):
    emulator = emulate()
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"input_data": {"columns": ["a"], "index": [0, 1], "data": [[1], [2]]}}))
    emulator.request_file = str(request)
    return emulator


def call(job, emulator, **flags):
    workspace = {"backend": "azureml", "subscription-id": emulator.subscription, "resource-group": "rg",
                 "workspace": "ws"}
    return job.run(Inputs.read(job.INPUTS, {**workspace, **flags}, environ={}))


def register_and_deploy(azure, runner, uri=URI, **flags):
    assert call(register, azure, **{"model-name": "diabetes", "model-path": uri}) == 0
    version = runner.outputs()["model-version"]
    assert call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes",
                                  "model-version": version, **flags}) == 0
    return runner.outputs()


def test_register_is_idempotent_and_tagged(azure, runner, monkeypatch):
    monkeypatch.setenv("GITHUB_SHA", "feedbeef")
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI, "tags": "{team: risk}"}) == 0
    assert runner.outputs() == {"model-name": "diabetes", "model-version": "1", "model-uri": "azureml:diabetes:1",
                                "already-registered": "false"}
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI}) == 0
    assert runner.outputs()["already-registered"] == "true" and runner.outputs()["model-version"] == "1"
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI2}) == 0
    assert runner.outputs()["model-version"] == "2"
    assert len(azure.calls("PUT", "/models/diabetes/versions/")) == 2  # the repeat registered nothing
    stored = azure.models["diabetes"]["1"]["properties"]
    assert stored["modelUri"].endswith(URI.removeprefix("azureml://")) and stored["modelType"] == "mlflow_model"
    assert {"team": "risk", "git.commit": "feedbeef"}.items() <= stored["tags"].items()


def test_endpoint_deployment_traffic_keys_and_invoke(azure, runner):
    first = register_and_deploy(azure, runner)
    assert (first["deployment-name"], first["previous-deployment"]) == ("blue", "")
    assert first["scoring-uri"] == "https://diabetes-ep.eastus.inference.ml.azure.com/score"
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"blue": 100}
    put = azure.deployments[("diabetes-ep", "blue")]
    assert put["properties"]["model"].endswith("/models/diabetes/versions/1")
    assert (put["properties"]["instanceType"], put["sku"]["capacity"]) == ("Standard_DS3_v2", 1)

    second = register_and_deploy(azure, runner, URI2)  # the endpoint exists: no failure, no change
    assert (second["deployment-name"], second["previous-deployment"]) == ("green", "blue")
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"blue": 100}

    azure.scorers[("diabetes-ep", "green")] = lambda body: (200, [1, 1])
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "deployment-name": "green", "requests": "3",
                                 "request-file": azure.request_file, "expected-output": "[1, 1]"}) == 0
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "requests": "3",
                                 "request-file": azure.request_file, "expected-output": "[0, 0]"}) == 0
    assert len(azure.calls("POST", "/listKeys")) == 2  # one key fetch per smoke test, not per request
    assert len([c for c in azure.calls("POST", "/score")]) == 6

    assert call(traffic, azure, **{"endpoint-name": "diabetes-ep", "traffic": "green", "retire": "true"}) == 0
    assert {"traffic": "green=100", "retired": "blue"}.items() <= runner.outputs().items()
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"green": 100}
    assert ("diabetes-ep", "blue") not in azure.deployments


def test_the_key_is_masked_before_use(azure, runner, capsys):
    register_and_deploy(azure, runner)
    capsys.readouterr()
    call(smoke, azure, **{"endpoint-name": "diabetes-ep", "request-file": azure.request_file, "requests": "1"})
    out = capsys.readouterr().out
    key = azure.keys["diabetes-ep"][0]
    assert out.startswith(f"::add-mask::{key}\n") and out.count(key) == 1


def test_a_failing_smoke_test_rolls_back(azure, runner, capsys):
    register_and_deploy(azure, runner)
    azure.scorers[("diabetes-ep", "green")] = lambda body: (500, {"error": "model crashed"})
    register_and_deploy(azure, runner, URI2, **{"traffic-percent": "100"})
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"green": 100}
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "request-file": azure.request_file,
                                 "rollback": "true", "previous-deployment": "blue"}) == 1
    assert runner.outputs()["rolled-back"] == "true"
    assert "status 424, expected 200" in capsys.readouterr().out  # Azure answers a model error as 424
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"blue": 100}
    assert ("diabetes-ep", "green") not in azure.deployments


def test_too_many_requests_is_retried(azure, runner):
    azure.fail_next("GET", r"/onlineEndpoints/diabetes-ep$", 429, times=2)
    register_and_deploy(azure, runner)
    answered_429 = [f for f in azure.faults if f.status == 429]
    assert answered_429[0].times == 0  # both 429s were served, and the deployment still succeeded
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"blue": 100}


def test_a_failed_operation_is_a_clear_error_and_traffic_is_unchanged(azure, runner):
    register_and_deploy(azure, runner)
    azure.fail_deployment("green", "ImageBuildFailure", "the image of green did not build")
    call(register, azure, **{"model-name": "diabetes", "model-path": URI2})
    with pytest.raises(github.ActionError) as caught:
        call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes", "model-version": "2",
                               "traffic-percent": "100"})
    assert "ImageBuildFailure: the image of green did not build" in str(caught.value)
    assert "Traffic is unchanged; the failed deployment was deleted." in str(caught.value)
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"blue": 100}
    assert ("diabetes-ep", "green") not in azure.deployments
    assert azure.calls("DELETE", "/deployments/green")


def test_a_missing_model_stops_before_anything_is_deployed(azure, runner):
    with pytest.raises(github.ActionError, match="model diabetes version 7 is not in workspace ws"):
        call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes", "model-version": "7"})
    assert azure.calls("PUT") == [] and azure.endpoints == {}


def test_cli_v2_yaml_files_are_the_base_spec(azure, runner, tmp_path):
    call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    (tmp_path / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: from-yaml-ep\nauth_mode: key\ndescription: the diabetes endpoint\n")
    (tmp_path / "deployment.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: from-yaml-ep\nmodel: azureml:diabetes:1\n"
        "instance_type: Standard_F4s_v2\ninstance_count: 2\n")
    assert call(deploy, azure, **{"endpoint-file": str(tmp_path / "endpoint.yml"),
                                  "deployment-file": str(tmp_path / "deployment.yml"), "instance-count": "3"}) == 0
    assert runner.outputs()["endpoint-name"] == "from-yaml-ep"
    assert azure.endpoints["from-yaml-ep"]["properties"]["description"] == "the diabetes endpoint"
    put = azure.deployments[("from-yaml-ep", "blue")]
    assert (put["properties"]["instanceType"], put["sku"]["capacity"]) == ("Standard_F4s_v2", 3)


@pytest.mark.parametrize("flags, message", [
    ({"workspace": ""}, "'workspace' is '': required by the azureml backend"),
    ({"model-path": "azureml://x", "backend": "local"}, "only the azureml backend reads"),
])
def test_bad_input_is_refused_before_any_call(azure, runner, flags, message):
    with pytest.raises(InputError, match=message):
        call(register, azure, **{"model-name": "diabetes", "model-path": URI, **flags})
    assert azure.requests == []


def test_no_permission_is_a_clear_error_with_the_fix(azure, runner):
    azure.fail_next("GET", r"/models/diabetes/versions$", 403, body={"error": {
        "code": "AuthorizationFailed", "message": "the client has no access to the workspace"}})
    with pytest.raises(github.ActionError) as caught:
        call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    assert caught.value.title == "Azure ML refused: listing the model's versions"
    assert "AuthorizationFailed: the client has no access to the workspace" in str(caught.value)
    assert "Fix: give the workflow's identity a role on the workspace" in str(caught.value)
    assert azure.calls("PUT") == []


def test_a_deployment_file_can_leave_names_to_the_inputs_and_keep_an_inline_environment(azure, runner, tmp_path):
    call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    (tmp_path / "conda.yml").write_text("name: serve\ndependencies:\n  - python=3.11\n")
    (tmp_path / "deployment.yml").write_text(
        "model: azureml:diabetes:1\nenvironment:\n  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu"
        "-inference:latest\n  conda_file: conda.yml\n")
    assert call(deploy, azure, **{"endpoint-name": "inline-env", "deployment-file": str(tmp_path / "deployment.yml"),
                                  "instance-type": "Standard_F2s_v2"}) == 0
    put = azure.deployments[("inline-env", "blue")]
    assert put["properties"]["instanceType"] == "Standard_F2s_v2"
    assert "/environments/CliV2AnonymousEnvironment/versions/" in put["properties"]["environmentId"]
    [environment] = [v for k, v in azure.environments.items() if k.startswith("environments/")]
    assert "minimal-ubuntu22.04-py311-cpu-inference" in environment["properties"]["image"]


def test_a_model_monitor_schedule_is_created_or_updated(azure, runner):
    from mlops_actions import monitor

    register_and_deploy(azure, runner, **{"collect-data": "true"})
    collected = azure.deployments[("diabetes-ep", "blue")]["properties"]["dataCollector"]["collections"]
    assert collected["model_inputs"]["dataCollectionMode"].lower() == "enabled"
    training = "azureml://datastores/workspaceblobstore/paths/data/diabetes.csv"
    flags = {"endpoint-name": "diabetes-ep", "training-data": training, "psi-threshold": "0.25",
             "schedule": "30 5 * * *"}
    assert call(monitor, azure, **flags) == 0 and runner.outputs()["schedule"] == "diabetes-ep-monitor"
    schedule = azure.schedules["diabetes-ep-monitor"]["properties"]
    assert schedule["trigger"]["expression"] == "30 5 * * *"
    signal = schedule["action"]["monitorDefinition"]["signals"]["data-drift"]
    assert signal["referenceData"]["uri"].endswith("paths/data/diabetes.csv")
    assert schedule["action"]["monitorDefinition"]["monitoringTarget"]["deploymentId"].endswith(
        "/onlineEndpoints/diabetes-ep/deployments/blue")
    assert call(monitor, azure, **{**flags, "psi-threshold": "0.3"}) == 0  # updated, not duplicated
    assert len(azure.schedules) == 1 and len(azure.calls("PUT", "/schedules/")) == 2


def test_a_monitor_without_collected_data_is_a_clear_error(azure, runner):
    from mlops_actions import monitor

    register_and_deploy(azure, runner)
    with pytest.raises(github.ActionError, match="data collection for model inputs is not enabled"):
        call(monitor, azure, **{"endpoint-name": "diabetes-ep",
                                "training-data": "azureml://datastores/workspaceblobstore/paths/data/diabetes.csv"})
    assert azure.schedules == {}
