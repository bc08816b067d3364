"""The azureml backend through the real azure-ai-ml SDK, against the loopback emulator of the Azure ML
REST API (reached through azure-core's transport; the SDK is not patched).

Registration here is from azureml:// datastore URIs: uploading a local folder goes through a blob client
the SDK builds itself, outside the transport, and is not emulated."""

import json
import re

import pytest

from conftest import AZURE_CLIENT
from mlops_actions import deploy, github, invoke, register, smoke, traffic
from mlops_actions.inputs import InputError, Inputs

URI = "azureml://datastores/workspaceblobstore/paths/models/diabetes/1"
URI2 = "azureml://datastores/workspaceblobstore/paths/models/diabetes/2"
URI3 = "azureml://datastores/workspaceblobstore/paths/models/diabetes/3"


@pytest.fixture
def azure(emulate, runner):
    emulator = emulate()
    request = runner.workspace / "request.json"  # inside the workspace, as actions read files on a runner
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
    # marked as probes in what Azure collects: a client request ID Azure keeps (at most 40 characters)
    assert len(set(azure.client_request_ids)) == 6 and all(
        i.startswith("mlops-actions-probe-") and len(i) <= 40 for i in azure.client_request_ids)

    assert call(traffic, azure, **{"endpoint-name": "diabetes-ep", "traffic": "green", "retire": "true"}) == 0
    assert {"traffic": "green=100", "retired": "blue"}.items() <= runner.outputs().items()
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"green": 100}
    assert ("diabetes-ep", "blue") not in azure.deployments


def test_invoke_prints_the_answer_and_the_deployment_azure_names(azure, runner, capsys):
    register_and_deploy(azure, runner)
    register_and_deploy(azure, runner, URI2)  # green, at 0%
    azure.scorers[("diabetes-ep", "blue")] = lambda body: (200, [0, 1])
    azure.scorers[("diabetes-ep", "green")] = lambda body: (500, {"error": "model crashed"})
    capsys.readouterr()
    assert call(invoke, azure, **{"endpoint-name": "diabetes-ep", "request-file": azure.request_file}) == 0
    out = capsys.readouterr().out
    key = azure.keys["diabetes-ep"][0]
    assert out.startswith(f"::add-mask::{key}\n") and out.count(key) == 1
    assert "[\n  0,\n  1\n]\n" in out and "diabetes-ep: HTTP 200 from deployment blue" in out
    assert {"status": "200", "deployment": "blue"}.items() <= runner.outputs().items()
    # one deployment by name, through the azureml-model-deployment request header: its error is exit 1
    assert call(invoke, azure, **{"endpoint-name": "diabetes-ep", "request-file": azure.request_file,
                                  "deployment-name": "green"}) == 1
    out = capsys.readouterr().out
    # a model's error is a 424 on Azure (ms-azureml-model-error-statuscode: 500)
    assert "::error title=Request failed::diabetes-ep answered HTTP 424 from green" in out
    assert {"status": "424", "deployment": "green"}.items() <= runner.outputs().items()
    with pytest.raises(InputError, match="'no-such-ep': no such endpoint on the azureml backend"):
        call(invoke, azure, **{"endpoint-name": "no-such-ep", "request-file": azure.request_file})


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


def test_a_failed_operation_is_a_clear_error_its_logs_are_read_before_it_is_deleted(azure, runner, capsys):
    register_and_deploy(azure, runner)
    azure.fail_deployment("green", "ImageBuildFailure", "the image of green did not build")
    call(register, azure, **{"model-name": "diabetes", "model-path": URI2})
    with pytest.raises(github.ActionError) as caught:
        call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes", "model-version": "2",
                               "traffic-percent": "100"})
    assert "ImageBuildFailure: the image of green did not build. Traffic is unchanged" in str(caught.value)
    assert "the failed deployment's logs are above, and it was deleted." in str(caught.value)
    assert azure.endpoints["diabetes-ep"]["properties"]["traffic"] == {"blue": 100}
    assert ("diabetes-ep", "green") not in azure.deployments
    calls = [(method, path) for method, _, path in azure.requests]
    logs = calls.index(("POST", f"{azure.ws_id}/onlineEndpoints/diabetes-ep/deployments/green/getLogs"))
    assert logs < calls.index(("DELETE", f"{azure.ws_id}/onlineEndpoints/diabetes-ep/deployments/green"))
    assert "::group::Logs of the failed deployment diabetes-ep/green" in capsys.readouterr().out


def test_a_missing_model_stops_before_anything_is_deployed(azure, runner):
    with pytest.raises(github.ActionError, match="model diabetes version 7 is not in workspace ws"):
        call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes", "model-version": "7"})
    assert azure.calls("PUT") == [] and azure.endpoints == {}


def test_cli_v2_yaml_files_are_the_base_spec(azure, runner):
    call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    (runner.workspace / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: from-yaml-ep\nauth_mode: key\ndescription: the diabetes endpoint\n")
    (runner.workspace / "deployment.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: from-yaml-ep\nmodel: azureml:diabetes:1\n"
        "instance_type: Standard_F4s_v2\ninstance_count: 2\n")
    assert call(deploy, azure, **{"endpoint-file": "endpoint.yml", "deployment-file": "deployment.yml",
                                  "instance-count": "3"}) == 0
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


def test_a_deployment_file_can_leave_names_to_the_inputs_and_keep_an_inline_environment(azure, runner):
    call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    (runner.workspace / "conda.yml").write_text("name: serve\ndependencies:\n  - python=3.11\n")
    (runner.workspace / "deployment.yml").write_text(
        "model: azureml:diabetes:1\nenvironment:\n  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu"
        "-inference:latest\n  conda_file: conda.yml\n")
    assert call(deploy, azure, **{"endpoint-name": "inline-env", "deployment-file": "deployment.yml",
                                  "instance-type": "Standard_F2s_v2"}) == 0
    put = azure.deployments[("inline-env", "blue")]
    assert put["properties"]["instanceType"] == "Standard_F2s_v2"
    assert "/environments/CliV2AnonymousEnvironment/versions/" in put["properties"]["environmentId"]
    [environment] = [v for k, v in azure.environments.items() if k.startswith("environments/")]
    assert "minimal-ubuntu22.04-py311-cpu-inference" in environment["properties"]["image"]


def test_an_environment_yaml_given_as_the_environment_is_registered_with_the_deployment(azure, runner):
    call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    (runner.workspace / "env").mkdir()
    (runner.workspace / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw):\n    return raw\n")
    (runner.workspace / "env" / "conda.yml").write_text("name: serve\ndependencies:\n  - python=3.11\n  - pip:\n"
                                                        "    - azureml-inference-server-http\n")
    (runner.workspace / "env" / "environment.yml").write_text(  # reference-yaml-environment's keys
        "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: serve\n"
        "image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\nconda_file: conda.yml\n")
    assert call(deploy, azure, **{"endpoint-name": "env-yaml", "model-name": "diabetes", "code-path": ".",
                                  "scoring-script": "score.py", "environment": "env/environment.yml"}) == 0
    put = azure.deployments[("env-yaml", "blue")]
    [(key, environment)] = [(k, v) for k, v in azure.environments.items() if k.startswith("environments/")]
    assert put["properties"]["environmentId"].endswith(key.split("/", 1)[1].replace(":", "/versions/"))
    assert "openmpi4.1.0-ubuntu20.04" in environment["properties"]["image"]
    assert "azureml-inference-server-http" in environment["properties"]["condaFile"]


def test_a_deployment_files_inline_model_is_registered_first_and_its_settings_reach_azure(azure, runner):
    import models

    models.mlflow_model(runner.workspace / "model")
    (runner.workspace / "deployment.yml").write_text(
        "name: blue\nendpoint_name: inline-model\nmodel:\n  path: model\n  type: mlflow_model\n"
        "environment_variables:\n  GREETING: hello\n"
        "request_settings:\n  request_timeout_ms: 1500\n  max_concurrent_requests_per_instance: 2\n")
    assert call(deploy, azure, **{"deployment-file": "deployment.yml"}) == 0
    assert runner.outputs()["model-uri"] == "azureml:inline-model:1"
    put = azure.deployments[("inline-model", "blue")]["properties"]
    assert put["model"].endswith("/models/inline-model/versions/1")
    assert put["environmentVariables"]["GREETING"] == "hello"
    assert (put["requestSettings"]["requestTimeout"], put["requestSettings"]["maxConcurrentRequestsPerInstance"]) \
        == ("PT1.5S", 2)


def test_a_model_monitor_reads_mltable_sends_both_metrics_and_e_mails(azure, runner):
    from mlops_actions import monitor

    register_and_deploy(azure, runner, **{"collect-data": "true"})
    collected = azure.deployments[("diabetes-ep", "blue")]["properties"]["dataCollector"]["collections"]
    assert collected["model_inputs"]["dataCollectionMode"] == "Enabled"
    (runner.workspace / "diabetes.csv").write_text("Age,BMI\n50,31.2\n33,22.4\n")
    flags = {"endpoint-name": "diabetes-ep", "training-data": "diabetes.csv", "psi-threshold": "0.25",
             "ks-p-value": "0.01", "schedule": "30 5 * * *", "ml-task": "regression",
             "alert-emails": "lead@contoso.com, ops@contoso.com"}
    assert call(monitor, azure, **flags) == 0 and runner.outputs()["schedule"] == "diabetes-ep-monitor"
    schedule = azure.schedules["diabetes-ep-monitor"]["properties"]
    assert schedule["trigger"]["expression"] == "30 5 * * *"
    definition = schedule["action"]["monitorDefinition"]
    assert definition["monitoringTarget"]["taskType"].lower() == "regression"
    assert definition["monitoringTarget"]["deploymentId"].endswith("/onlineEndpoints/diabetes-ep/deployments/blue")
    assert definition["alertNotificationSetting"]["emailNotificationSetting"]["emails"] == [
        "lead@contoso.com", "ops@contoso.com"]
    metrics = {name: (signal["metricThresholds"][0]["metric"], signal["metricThresholds"][0]["threshold"]["value"])
               for name, signal in definition["signals"].items()}
    assert metrics == {"data-drift-psi": ("PopulationStabilityIndex", 0.25),
                       "data-drift-ks": ("TwoSampleKolmogorovSmirnovTest", 0.01)}
    reference = definition["signals"]["data-drift-psi"]["referenceData"]
    assert reference["jobInputType"].lower() == "mltable"
    [(key, asset)] = [(k, v) for k, v in azure.environments.items() if k.startswith("data/diabetes-ep-training-data")]
    assert reference["uri"].endswith(key.removeprefix("data/").replace(":", "/versions/"))
    assert asset["properties"]["dataType"].lower() == "mltable"
    container, prefix = azure.blob_location(asset["properties"]["dataUri"])
    uploaded = {b.name.rsplit("/", 1)[-1] for b in azure.storage.service().get_container_client(container)
                .list_blobs(name_starts_with=prefix)}
    assert uploaded == {"MLTable", "diabetes.csv"}
    assert call(monitor, azure, **flags) == 0  # updated, not duplicated
    assert len(azure.schedules) == 1 and len(azure.calls("PUT", "/schedules/")) == 2


def test_a_monitors_task_comes_from_the_models_tag_or_is_asked_for(azure, runner):
    from mlops_actions import monitor

    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI,
                                    "tags": "{ml_task: classification}"}) == 0
    assert call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes",
                                  "collect-data": "true"}) == 0
    (runner.workspace / "diabetes.csv").write_text("Age,BMI\n50,31.2\n")
    assert call(monitor, azure, **{"endpoint-name": "diabetes-ep", "training-data": "diabetes.csv"}) == 0
    target = azure.schedules["diabetes-ep-monitor"]["properties"]["action"]["monitorDefinition"]["monitoringTarget"]
    assert target["taskType"].lower() == "classification"
    call(register, azure, **{"model-name": "untagged", "model-path": URI2})
    call(deploy, azure, **{"endpoint-name": "other-ep", "model-name": "untagged", "collect-data": "true"})
    with pytest.raises(github.ActionError, match="has no ml_task tag naming its task, and ml-task is empty"):
        call(monitor, azure, **{"endpoint-name": "other-ep", "training-data": "diabetes.csv"})
    with pytest.raises(InputError, match="a CSV file, which Azure ML's model monitor cannot read"):
        call(monitor, azure, **{"endpoint-name": "other-ep", "training-data": URI + "/data.csv"})


def test_a_monitor_without_collected_data_is_a_clear_error(azure, runner):
    from mlops_actions import monitor

    register_and_deploy(azure, runner)
    with pytest.raises(github.ActionError, match="data collection for model inputs is not enabled"):
        call(monitor, azure, **{"endpoint-name": "diabetes-ep", "ml-task": "classification",
                                "training-data": "azureml:diabetes-training:1"})
    assert azure.schedules == {}


def test_a_rollback_without_a_previous_deployment_gives_the_others_all_the_traffic(azure, runner):
    register_and_deploy(azure, runner)
    azure.scorers[("diabetes-ep", "green")] = lambda body: (500, {"error": "model crashed"})
    register_and_deploy(azure, runner, URI2, **{"traffic-percent": "10"})
    assert azure.traffic("diabetes-ep") == {"blue": 90, "green": 10}
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "deployment-name": "green", "rollback": "true",
                                 "request-file": azure.request_file}) == 1
    assert azure.traffic("diabetes-ep") == {"blue": 100}  # not {blue: 90}, which Azure refuses
    assert ("diabetes-ep", "green") not in azure.deployments


def test_a_new_deployment_is_mirrored_before_the_shift_and_mirroring_stops_when_it_goes_live(azure, runner):
    register_and_deploy(azure, runner)
    register_and_deploy(azure, runner, URI2, **{"mirror-percent": "20"})
    assert (azure.traffic("diabetes-ep"), azure.mirror("diabetes-ep")) == ({"blue": 100}, {"green": 20})
    [call(smoke, azure, **{"endpoint-name": "diabetes-ep", "request-file": azure.request_file}) for _ in range(3)]
    assert azure.mirrored and {name for _, name in azure.mirrored} == {"green"}
    assert call(traffic, azure, **{"endpoint-name": "diabetes-ep", "traffic": "green", "retire": "true"}) == 0
    assert (azure.traffic("diabetes-ep"), azure.mirror("diabetes-ep")) == ({"green": 100}, {})
    assert {"traffic": "green=100", "mirror": "", "retired": "blue"}.items() <= runner.outputs().items()


def test_a_mirrored_deployment_redeployed_with_live_traffic_is_mirrored_to_no_longer(azure, runner):
    register_and_deploy(azure, runner)
    register_and_deploy(azure, runner, URI2, **{"mirror-percent": "20"})
    register_and_deploy(azure, runner, URI2, **{"traffic-percent": "30"})  # green again, now taking traffic
    assert (azure.traffic("diabetes-ep"), azure.mirror("diabetes-ep")) == ({"blue": 70, "green": 30}, {})


def test_mirroring_is_set_and_stopped_by_shift_traffic_and_a_mirrored_deployment_is_kept(azure, runner):
    register_and_deploy(azure, runner)
    register_and_deploy(azure, runner, URI2)
    assert call(traffic, azure, **{"endpoint-name": "diabetes-ep", "mirror": "green=50"}) == 0
    assert (azure.traffic("diabetes-ep"), azure.mirror("diabetes-ep")) == ({"blue": 100}, {"green": 50})
    assert call(traffic, azure, **{"endpoint-name": "diabetes-ep", "traffic": "blue", "retire": "true"}) == 0
    assert ("diabetes-ep", "green") in azure.deployments  # still mirrored: not idle
    assert call(traffic, azure, **{"endpoint-name": "diabetes-ep", "traffic": "blue", "mirror": "off",
                                   "retire": "true"}) == 0
    assert azure.mirror("diabetes-ep") == {} and ("diabetes-ep", "green") not in azure.deployments
    with pytest.raises(InputError, match="'mirror' is 'green=60': not one name=percent with 1-50%"):
        call(traffic, azure, **{"endpoint-name": "diabetes-ep", "mirror": "green=60"})


def test_deleting_a_mirrored_deployment_stops_its_mirror_first(azure, runner):
    from mlops_actions.backends.azureml import AzureMLBackend

    register_and_deploy(azure, runner)
    register_and_deploy(azure, runner, URI2, **{"mirror-percent": "10"})
    AzureMLBackend(azure.subscription, "rg", "ws").delete_deployment("diabetes-ep", "green")
    assert azure.mirror("diabetes-ep") == {} and ("diabetes-ep", "green") not in azure.deployments


def test_an_endpoint_file_creates_an_endpoint_without_traffic_and_merges_into_an_existing_one(azure, runner):
    identity = (f"/subscriptions/{azure.subscription}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/id-endpoint")
    (runner.workspace / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: diabetes-ep\nauth_mode: key\ntraffic:\n  blue: 100\ntags:\n  team: risk\n"
        f"identity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: {identity}\n")
    register_and_deploy(azure, runner, **{"endpoint-file": str(runner.workspace / "endpoint.yml")})
    assert azure.traffic("diabetes-ep") == {"blue": 100}  # set by the deployment, not by the file
    register_and_deploy(azure, runner, URI2, **{"mirror-percent": "10"})
    (runner.workspace / "update.yml").write_text("name: diabetes-ep\ndescription: diabetes, v2\ntags:\n  stage: prod\n")
    register_and_deploy(azure, runner, URI2, **{"endpoint-file": str(runner.workspace / "update.yml"),
                                                "deployment-name": "red"})
    endpoint = azure.endpoints["diabetes-ep"]
    assert endpoint["properties"]["description"] == "diabetes, v2"
    assert endpoint["tags"] == {"team": "risk", "stage": "prod"}
    assert endpoint["identity"]["type"].lower() == "userassigned"
    assert identity in str(endpoint["identity"])
    assert (azure.traffic("diabetes-ep"), azure.mirror("diabetes-ep")) == ({"blue": 100}, {"green": 10})


def test_an_endpoint_another_run_creates_while_this_one_waits_is_used_as_it_is(azure, runner, monkeypatch):
    import time

    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    call(register, azure, **{"model-name": "diabetes", "model-path": URI})

    def another_run_creates_it():
        status, _, _ = azure.request("PUT", f"{azure.ws_id}/onlineEndpoints/raced", {
            "location": "eastus", "properties": {"authMode": "Key", "description": "the other run's"}},
            api_version="2022-02-01-preview")
        assert status == 201
    azure.fail_next("PUT", r"/onlineEndpoints/raced$", 409, body={"error": {"code": "Conflict", "message": "busy"}})
    azure.after("PUT", r"/onlineEndpoints/raced$", another_run_creates_it)  # right after this run's 409
    assert call(deploy, azure, **{"endpoint-name": "raced", "model-name": "diabetes"}) == 0
    assert azure.endpoints["raced"]["properties"]["description"] == "the other run's"  # not written over
    assert azure.traffic("raced") == {"blue": 100}


def test_a_write_to_a_busy_endpoint_waits_for_the_other_operation_then_goes_on(azure, runner, monkeypatch):
    import time

    from mlops_actions.backends.azureml.endpoints import Endpoints

    monkeypatch.setattr(Endpoints, "busy_wait_seconds", 10.0)
    pauses = []
    monkeypatch.setattr(time, "sleep", lambda seconds: pauses.append(seconds))
    register_and_deploy(azure, runner)
    azure.polls = 20  # looks (by anyone) before the left-behind operation ends
    status, _, _ = azure.request("PUT", f"{azure.ws_id}/onlineEndpoints/diabetes-ep", {  # as a cancelled run left it
        "location": "eastus", "properties": {"authMode": "Key", "description": "left behind",
                                             "traffic": {"blue": 100}}}, api_version="2022-02-01-preview")
    assert status == 201
    register_and_deploy(azure, runner, URI2)
    green = f"{azure.ws_id}/onlineEndpoints/diabetes-ep/deployments/green"
    assert ("PUT", green, 409) in azure.answered and pauses  # refused, then it paused before trying again
    assert len([a for a in azure.answered if a[:2] == ("PUT", green)]) <= 3  # no tight loop of PUTs
    assert azure.deployments[("diabetes-ep", "green")]["properties"]["provisioningState"] == "Succeeded"
    assert azure.endpoints["diabetes-ep"]["properties"]["description"] == "left behind"
    # a 409 with nothing showing as busy (another deployment's operation, say): a pause before each try
    before = len(pauses)
    azure.fail_next("PUT", r"/deployments/red$", 409, times=3, body={"error": {"code": "Conflict", "message": "busy"}})
    assert call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes", "model-version": "2",
                                  "deployment-name": "red"}) == 0
    assert len(pauses) - before >= 3


def test_a_smoke_test_keeps_to_what_a_deployment_admits_and_retries_refusals(azure, runner, monkeypatch, capsys):
    import time

    monkeypatch.setattr(smoke, "RETRY_SECONDS", 0.01)
    register_and_deploy(azure, runner)  # 1 instance, 1 request per instance: 2 at once
    azure.scorers[("diabetes-ep", "blue")] = lambda body: (time.sleep(0.05), (200, [0, 0]))[1]
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "requests": "16", "concurrency": "8",
                                 "request-file": azure.request_file}) == 0
    assert "concurrency 8 is more than diabetes-ep admits at once (2" in capsys.readouterr().out
    assert [status for _, _, status in azure.scored] == [200] * 16  # no 429
    azure.fail_next("POST", r"^/score$", 429, times=2)
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "requests": "4",
                                 "request-file": azure.request_file}) == 0
    assert runner.outputs()["retried"] == "1"  # the first request, answered 429 twice, then 200
    azure.fail_next("POST", r"^/score$", 429, times=2)  # every request retried: no latency to judge
    monkeypatch.setattr(smoke, "RETRY_SECONDS", 0.5)  # both first tries answered before either tries again
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "requests": "2", "concurrency": "2",
                                 "max-p95-ms": "1000", "request-file": azure.request_file}) == 1
    assert runner.outputs()["latency-p95-ms"] == "" and "there is no latency to hold to max-p95-ms" in \
        capsys.readouterr().out


@pytest.mark.parametrize("auth_mode", ["aml_token", "aad_token"])
def test_an_endpoint_with_token_auth_is_smoke_tested_with_a_token(azure, runner, capsys, auth_mode):
    (runner.workspace / "endpoint.yml").write_text(f"name: diabetes-ep\nauth_mode: {auth_mode}\n")
    register_and_deploy(azure, runner, **{"endpoint-file": str(runner.workspace / "endpoint.yml")})
    capsys.readouterr()
    assert call(smoke, azure, **{"endpoint-name": "diabetes-ep", "request-file": azure.request_file,
                                 "requests": "2"}) == 0
    assert capsys.readouterr().out.startswith("::add-mask::")


def test_workflow_commands_start_a_line_after_the_sdks_progress_dots(azure, runner, capsys, monkeypatch):
    from mlops_actions import cli

    call(register, azure, **{"model-name": "diabetes", "model-path": URI})
    monkeypatch.setattr("sys.argv", ["mlops-actions"])
    assert cli.main(["deploy-endpoint", "--endpoint-name", "diabetes-ep", "--model-name", "diabetes", "--backend",
                     "azureml", "--subscription-id", azure.subscription, "--resource-group", "rg",
                     "--workspace", "ws"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\.+$", out, re.MULTILINE)  # the SDK printed its dots, one per poll, and the line was ended
    assert not [line for line in out.splitlines() if "::" in line and not line.startswith("::")]


def test_a_long_job_outlives_the_github_token_azure_login_used_but_not_one_fetched_fresh(
        azure, runner, monkeypatch, tmp_path):
    import time

    subject = "repo:contoso/diabetes:environment:production"
    azure.federate(AZURE_CLIENT, subject)
    azure.github_subject = subject
    azure.token_lifetime = 5  # under azure-core's 5-minute refresh window: every call signs in again
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    # azure/login's way, seen from the SDK: one GitHub token exchanged at the start of the job
    (tmp_path / "token").write_text(azure.github_token(subject, lifetime=2))
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(tmp_path / "token"))
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI}) == 0
    time.sleep(2.5)
    with pytest.raises(github.ActionError) as caught:
        call(register, azure, **{"model-name": "diabetes", "model-path": URI2})
    assert caught.value.title == "Azure sign-in failed" and "AADSTS700024" in str(caught.value)
    assert "give this action client-id and tenant-id too" in str(caught.value)
    # on a runner with id-token: write, given the identity: a fresh GitHub token whenever one is needed
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://pipelinesghubeus1.actions.githubusercontent.com/"
                       "abc/idtoken/def?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", azure.github_request_token)
    azure.github_lifetime = 2
    identity = {"client-id": AZURE_CLIENT, "tenant-id": azure.tenant}
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI2, **identity}) == 0
    time.sleep(2.5)
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI3, **identity}) == 0
    assert azure.github_tokens_issued >= 2


def test_a_registration_raced_to_the_same_version_takes_the_next(azure, runner):
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI}) == 0

    def another_run_registers_version_2():
        status, _, _ = azure.request("PUT", f"{azure.ws_id}/models/diabetes/versions/2", {"properties": {
            "modelType": "mlflow_model", "modelUri": URI3}}, api_version="2023-08-01-preview")
        assert status == 201
    azure.after("GET", r"/models/diabetes$", another_run_registers_version_2)  # between nextVersion and the PUT
    assert call(register, azure, **{"model-name": "diabetes", "model-path": URI2}) == 0
    assert runner.outputs()["model-version"] == "3"
    assert azure.models["diabetes"]["2"]["properties"]["modelUri"].endswith("diabetes/3")  # the other run's


def test_a_storage_account_that_refuses_the_upload_is_a_clear_error_with_its_fix(azure, runner, monkeypatch):
    folder = runner.workspace / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    monkeypatch.setattr(azure.storage, "key", "c3RvcmFnZSBrZXkgb2YgYW5vdGhlciBhY2NvdW50")  # SAS signed wrongly
    with pytest.raises(github.ActionError) as caught:
        call(register, azure, **{"model-name": "diabetes", "model-path": str(folder)})
    assert "Storage Blob Data Contributor" in str(caught.value) and "network rules" in str(caught.value)
    assert "diabetes" not in azure.models


def test_an_emulator_anywhere_but_loopback_is_refused(azure, runner, monkeypatch):
    from mlops_actions.backends.azureml import EMULATOR

    monkeypatch.setenv(EMULATOR, "http://emulator.example.com:8080")
    with pytest.raises(github.ActionError, match="the Azure ML emulator runs on loopback, and every token would"):
        call(register, azure, **{"model-name": "diabetes", "model-path": URI})


def test_the_champion_is_the_model_serving_the_endpoint(azure, runner, capsys):
    metrics = runner.workspace / "metrics.json"

    def challenge(uri: str, auc: float, gate: str = "auc >= champion.auc - 0.005, auc >= 0.8") -> int:
        metrics.write_text(json.dumps({"auc": auc}))
        return call(register, azure, **{"model-name": "diabetes", "model-path": uri, "metrics-file": str(metrics),
                                        "metrics-gate": gate, "champion-endpoint": "diabetes-ep"})

    assert challenge(URI, 0.9) == 0  # no endpoint: the condition against the champion is skipped
    assert "| auc | 0.9 | – | auc >= champion.auc - 0.005 | ⏭️ skipped |" in runner.summary()
    assert call(deploy, azure, **{"endpoint-name": "diabetes-ep", "model-name": "diabetes", "model-version": "1"}) == 0
    capsys.readouterr()
    assert challenge(URI2, 0.8949) == 1  # just below 0.9 - 0.005: nothing registered
    assert "auc >= champion.auc - 0.005 is not met (auc = 0.8949, champion.auc = 0.9 - 0.005)" in \
        capsys.readouterr().out
    assert list(azure.models["diabetes"]) == ["1"]
    assert challenge(URI2, 0.895) == 0 and runner.outputs()["model-version"] == "2"  # at the edge
    assert "Champion: `azureml:diabetes:1`, serving `diabetes-ep`" in runner.summary()
    with pytest.raises(InputError, match="the champion azureml:diabetes:1 .serving diabetes-ep. has no metric 'f1'"):
        challenge(URI3, 0.95, "auc >= champion.f1")
