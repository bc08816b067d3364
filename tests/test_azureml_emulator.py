"""The Azure ML emulator refuses what Azure refuses: each rule (cited in tests/azureml_emulator and listed
in docs/azureml-emulator.md) met through the real azure-ai-ml SDK where the SDK lets a user send it, and
as a raw REST request where the SDK itself refuses first."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from conftest import AZURE_CLIENT
from mlops_actions.backends.azureml import emulator_transport

SECRET = "emulator-client-secret"
MODEL_URI = "azureml://datastores/workspaceblobstore/paths/models/diabetes"
SKLEARN_ENV = "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:33"


@pytest.fixture
def azure(emulate):
    return emulate()


def sdk(emulator, client_id=AZURE_CLIENT):
    """An MLClient as a user builds one, signed in through the emulator's Entra ID."""
    from azure.ai.ml import MLClient
    from azure.identity import ClientSecretCredential

    transport = emulator_transport(emulator.url)
    credential = ClientSecretCredential(emulator.tenant, client_id, SECRET, transport=transport)
    return MLClient(credential, emulator.subscription, emulator.resource_group, emulator.workspace,
                    transport=transport, enable_telemetry=False, show_progress=False)


def endpoint_with(ml, name="rules-ep", deployments=("blue",), **endpoint_settings):
    """An endpoint, a registered MLflow model and one no-code deployment of it per name."""
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model

    ml.models.create_or_update(Model(name="diabetes", version="1", path=MODEL_URI, type="mlflow_model"))
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=name, **endpoint_settings)).result()
    for deployment in deployments:
        ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name=deployment, endpoint_name=name, model="azureml:diabetes:1", instance_type="Standard_DS3_v2",
            instance_count=1)).result()
    return ml.online_endpoints.get(name)


def set_traffic(ml, name, traffic=None, mirror=None):
    endpoint = ml.online_endpoints.get(name)
    endpoint.traffic = traffic if traffic is not None else endpoint.traffic
    endpoint.mirror_traffic = mirror if mirror is not None else endpoint.mirror_traffic
    return ml.online_endpoints.begin_create_or_update(endpoint).result()


def refused(call) -> str:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as caught:
        call()
    return str(caught.value)


def score(emulator, endpoint, body, key=None, deployment=None):
    headers = {} if deployment is None else {"azureml-model-deployment": deployment}
    return emulator.request("POST", "/score", body, host=f"{endpoint}.eastus.inference.ml.azure.com", api_version="",
                            token=emulator.keys[endpoint][0] if key is None else key, headers=headers)


# -- request bodies against the REST spec ----------------------------------------------------------------

def test_a_body_the_rest_spec_refuses_is_a_400_naming_each_property(azure):
    path = f"{azure.ws_id}/onlineEndpoints/spec-check"
    status, body, headers = azure.request("PUT", path, {"location": "eastus", "properties": {"traffic": {"x": "nine"}}})
    assert status == 400 and headers["x-ms-response-type"] == "error"
    assert body["error"]["code"] == "UserError"
    assert body["error"]["message"] == "Request is invalid and/or missing fields."
    problems = [detail["message"] for detail in body["error"]["details"]]
    assert "online endpoint: body.properties.authMode: required" in problems
    assert 'online endpoint: body.properties.traffic.x: could not read "nine" as an integer' in problems
    sdk_version = "2022-02-01-preview"  # what azure-ai-ml sends for endpoints: the same checks apply
    status, body, _ = azure.request("PUT", path, {"location": "eastus", "properties": {"authMode": "Keys"}},
                                    api_version=sdk_version)
    assert status == 400 and "'Keys' is not one of ['AADToken', 'AMLToken', 'Key']" in json.dumps(body)
    status, body, _ = azure.request("PUT", path, {"location": "eastus", "properties": {"authMode": "Key",
                                                                                       "trafic": {}}},
                                    api_version=sdk_version)
    assert status == 400 and "could not find member 'trafic' on object of type 'OnlineEndpointProperties'" in \
        json.dumps(body)
    status, body, _ = azure.request("PUT", f"{azure.ws_id}/jobs/no-environment", {"properties": {
        "jobType": "Command", "command": "python train.py"}})
    assert status == 400 and "job: body.properties.environmentId: required" in json.dumps(body)
    assert azure.endpoints == {} and azure.jobs == {}  # nothing refused was created
    status, body, _ = azure.request("PUT", path, {"location": "eastus", "properties": {"authMode": "key"}})
    assert status == 201 and body["properties"]["authMode"] == "Key"  # enums read without case, answered in the spec's


# -- long-running operations -----------------------------------------------------------------------------

def test_an_endpoint_is_created_over_several_polls_and_a_write_meanwhile_is_a_conflict(azure):
    azure.polls = 2  # looks that answer "Updating": a poll, or a GET of the resource (not a refused write)
    path = f"{azure.ws_id}/onlineEndpoints/slow-ep"
    spec = {"location": "eastus", "properties": {"authMode": "Key"}}
    status, body, headers = azure.request("PUT", path, spec, api_version="2022-02-01-preview")
    assert status == 201 and body["properties"]["provisioningState"] == "Creating"
    assert body["properties"]["scoringUri"] is None and "Retry-After" not in headers
    assert headers["x-ms-async-operation-timeout"] == "PT30M" and "oeidp:" in headers["Azure-AsyncOperation"]
    for method, body_ in (("PUT", spec), ("DELETE", None)):
        status, answer, _ = azure.request(method, path, body_, api_version="2022-02-01-preview")
        assert status == 409 and answer["error"]["code"] == "Conflict"
    operation = urlsplit(headers["Azure-AsyncOperation"])
    statuses = [azure.request("GET", operation.path + "?" + operation.query, api_version="")[1]["status"]
                for _ in range(3)]
    assert statuses == ["Updating", "Updating", "Succeeded"]
    status, body, _ = azure.request("GET", path, api_version="2022-02-01-preview")
    assert body["properties"]["provisioningState"] == "Succeeded"
    assert body["properties"]["scoringUri"] == "https://slow-ep.eastus.inference.ml.azure.com/score"


# -- traffic, mirror traffic and deletion ----------------------------------------------------------------

def test_traffic_is_set_only_on_existing_deployments_and_sums_to_0_or_100(azure, tmp_path):
    from azure.ai.ml import load_online_endpoint

    ml = sdk(azure)
    (tmp_path / "endpoint.yml").write_text("name: yaml-ep\nauth_mode: key\ntraffic:\n  blue: 100\n")
    assert "Traffic cannot be set while endpoint yaml-ep is created" in refused(
        lambda: ml.online_endpoints.begin_create_or_update(load_online_endpoint(tmp_path / "endpoint.yml")).result())
    assert "yaml-ep" not in azure.endpoints
    endpoint_with(ml, deployments=("blue", "green"))
    assert "sums to 90%: it must sum to 0 or 100" in refused(lambda: set_traffic(ml, "rules-ep", {"blue": 90}))
    assert "names deployment red, which does not exist" in refused(lambda: set_traffic(ml, "rules-ep", {"red": 100}))
    assert azure.traffic("rules-ep") == {}
    set_traffic(ml, "rules-ep", {"blue": 60, "green": 40})
    assert azure.traffic("rules-ep") == {"blue": 60, "green": 40}
    set_traffic(ml, "rules-ep", {"blue": 0, "green": 0})  # 0 in all: traffic off
    assert azure.traffic("rules-ep") == {}


def test_mirror_traffic_is_at_most_50_to_one_deployment_without_live_traffic_and_is_kept(azure):
    ml = sdk(azure)
    endpoint_with(ml, deployments=("blue", "green", "red"))
    set_traffic(ml, "rules-ep", {"blue": 100})
    assert "Deployment blue takes live traffic" in refused(lambda: set_traffic(ml, "rules-ep", mirror={"blue": 10}))
    assert "At most 50% of the traffic can be mirrored, not 60%" in refused(
        lambda: set_traffic(ml, "rules-ep", mirror={"green": 60}))
    status, body, _ = azure.request("PUT", f"{azure.ws_id}/onlineEndpoints/rules-ep", {
        "location": "eastus", "properties": {"authMode": "Key", "traffic": {"blue": 100},
                                             "mirrorTraffic": {"green": 10, "red": 10}}})
    assert status == 400 and "mirrored to only one deployment, not 2" in body["error"]["message"]
    set_traffic(ml, "rules-ep", mirror={"green": 20})
    assert ml.online_endpoints.get("rules-ep").mirror_traffic == {"green": 20}  # kept in the resource
    set_traffic(ml, "rules-ep", {"blue": 100})  # a later traffic change sends the mirror it read back
    assert azure.mirror("rules-ep") == {"green": 20}


def test_a_deployment_taking_live_or_mirrored_traffic_cannot_be_deleted(azure):
    ml = sdk(azure)
    endpoint_with(ml, deployments=("blue", "green"))
    set_traffic(ml, "rules-ep", {"blue": 100}, mirror={"green": 10})
    assert "Deployment blue has 100% of the live traffic" in refused(
        lambda: ml.online_deployments.begin_delete(name="blue", endpoint_name="rules-ep").result())
    assert "Deployment green receives mirrored traffic" in refused(
        lambda: ml.online_deployments.begin_delete(name="green", endpoint_name="rules-ep").result())
    set_traffic(ml, "rules-ep", {"green": 100}, mirror={})
    ml.online_deployments.begin_delete(name="blue", endpoint_name="rules-ep").result()
    assert set(d.name for d in ml.online_deployments.list("rules-ep")) == {"green"}


# -- model versions --------------------------------------------------------------------------------------

def test_a_model_versions_path_cannot_change_its_tags_can_and_versions_count_on(azure):
    from azure.ai.ml.entities import Model

    ml = sdk(azure)
    ml.models.create_or_update(Model(name="diabetes", version="1", path=MODEL_URI, tags={"stage": "dev"}))
    assert "Asset paths cannot be updated" in refused(
        lambda: ml.models.create_or_update(Model(name="diabetes", version="1", path=MODEL_URI + "-other")))
    updated = ml.models.create_or_update(Model(name="diabetes", version="1", path=MODEL_URI, tags={"stage": "prod"}))
    assert updated.tags == {"stage": "prod"} and updated.path.endswith("paths/models/diabetes")
    assert ml.models.create_or_update(Model(name="auto", path=MODEL_URI)).version == "1"  # no container yet
    assert ml.models.create_or_update(Model(name="auto", path=MODEL_URI + "/2")).version == "2"
    ml.models.create_or_update(Model(name="auto", version="7", path=MODEL_URI + "/7"))
    assert ml.models.create_or_update(Model(name="auto", path=MODEL_URI + "/8")).version == "8"


# -- blob storage ----------------------------------------------------------------------------------------

def test_a_local_model_folder_is_uploaded_to_the_workspaces_blob_storage(azure, tmp_path):
    from azure.ai.ml.entities import Model

    ml = sdk(azure)
    folder = tmp_path / "diabetes-model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n")
    (folder / "model.pkl").write_bytes(b"\x80\x04weights")
    azure.storage.proxy.tunnelled.clear()  # the proxy is the session's: count this test's tunnels only
    first = ml.models.create_or_update(Model(name="uploaded", version="1", path=str(folder), type="mlflow_model"))
    assert "/paths/LocalUpload/" in first.path and first.path.endswith("/diabetes-model")
    container = azure.storage.service().get_container_client(azure.blob_container)
    blobs = {blob.name: blob.metadata for blob in container.list_blobs(include=["metadata"])}
    prefix = first.path.split("/paths/")[1]
    assert {f"{prefix}/MLmodel", f"{prefix}/model.pkl"} <= set(blobs)
    assert blobs[f"{prefix}/MLmodel"]["upload_status"] == "completed"
    assert container.download_blob(f"{prefix}/model.pkl").readall() == b"\x80\x04weights"
    assert azure.storage.account + ".blob.core.windows.net" in azure.storage.proxy.tunnelled
    second = ml.models.create_or_update(Model(name="uploaded", version="2", path=str(folder), type="mlflow_model"))
    assert second.path == first.path  # the same content is found by its hash, not uploaded again


SCORE = """import json, os

def init():
    global slope
    if os.environ.get("FAIL_INIT"):
        raise RuntimeError("the model could not be loaded")
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.json")) as weights:
        slope = json.load(weights)["slope"]

def run(raw):
    data = json.loads(raw)["data"]
    if data == "boom":
        raise ValueError("boom")
    return [slope * x for x in data]
"""


def custom_deployment(ml, tmp_path, name, **settings):
    from azure.ai.ml.entities import CodeConfiguration, Environment, ManagedOnlineDeployment, Model

    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "weights.json").write_text('{"slope": 2}')
    (tmp_path / "onlinescoring").mkdir(exist_ok=True)
    (tmp_path / "onlinescoring" / "score.py").write_text(SCORE)
    return ManagedOnlineDeployment(
        name=name, endpoint_name="custom-ep", model=Model(path=str(tmp_path / "model"), type="custom_model"),
        code_configuration=CodeConfiguration(code=str(tmp_path / "onlinescoring"), scoring_script="score.py"),
        environment=Environment(image="mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu-inference:latest"),
        instance_type="Standard_DS3_v2", instance_count=1, **settings)


def test_a_custom_deployment_serves_its_uploaded_score_py_and_model_as_azure_lays_them_out(azure, tmp_path):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    ml = sdk(azure)
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="custom-ep")).result()
    deployment = ml.online_deployments.begin_create_or_update(custom_deployment(ml, tmp_path, "blue")).result()
    assert deployment.provisioning_state == "Succeeded"
    model_dir = deployment.environment_variables["AZUREML_MODEL_DIR"]
    assert model_dir.startswith("/var/azureml-app/azureml-models/") and deployment.environment_variables[
        "AML_APP_ROOT"] == "/var/azureml-app/onlinescoring"
    status, answer, headers = score(azure, "custom-ep", {"data": [1, 2, 3]}, deployment="blue")
    assert (status, answer, headers["azureml-model-deployment"]) == (200, [2, 4, 6], "blue")
    status, answer, headers = score(azure, "custom-ep", {"data": "boom"}, deployment="blue")
    assert status == 424 and headers["ms-azureml-model-error-statuscode"] == "500"  # Azure wraps model errors
    assert "ValueError: boom" in ml.online_deployments.get_logs("blue", "custom-ep", lines=200)


def test_a_deployment_whose_container_does_not_start_fails_with_its_logs(azure, tmp_path):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    ml = sdk(azure)
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="custom-ep")).result()
    message = refused(lambda: ml.online_deployments.begin_create_or_update(custom_deployment(
        ml, tmp_path, "broken", environment_variables={"FAIL_INIT": "1"})).result())
    assert "ResourceNotReady" in message and "the model could not be loaded" in message
    assert ml.online_deployments.get("broken", "custom-ep").provisioning_state == "Failed"


def test_a_custom_model_without_code_or_environment_is_refused(azure, tmp_path):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model

    ml = sdk(azure)
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="custom-ep")).result()
    ml.models.create_or_update(Model(name="custom", version="1", path=MODEL_URI, type="custom_model"))
    assert "is not an MLflow model: a deployment of it needs an environment" in refused(
        lambda: ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="custom-ep", model="azureml:custom:1", instance_type="Standard_DS3_v2",
            instance_count=1)).result())


# -- scoring ---------------------------------------------------------------------------------------------

def test_scoring_routes_by_weight_a_header_targets_one_deployment_and_a_key_is_required(azure):
    ml = sdk(azure)
    endpoint_with(ml, deployments=("blue", "green", "grey"))
    set_traffic(ml, "rules-ep", {"blue": 70, "green": 30})
    served = [score(azure, "rules-ep", {"input_data": {"data": [[1]]}})[2]["azureml-model-deployment"]
              for _ in range(1000)]
    assert 640 <= served.count("blue") <= 760 and served.count("blue") + served.count("green") == 1000
    assert {score(azure, "rules-ep", {}, deployment="grey")[2]["azureml-model-deployment"] for _ in range(5)} == {
        "grey"}  # even at 0%
    assert score(azure, "rules-ep", {}, key="")[0] == 401
    assert score(azure, "rules-ep", {}, key="not-the-key")[0] == 401
    assert score(azure, "rules-ep", {}, key=azure.keys["rules-ep"][1])[0] == 200  # the secondary key
    set_traffic(ml, "rules-ep", {"blue": 0, "green": 0})
    status, answer, _ = score(azure, "rules-ep", {})
    assert status == 404 and "doesn't have any valid deployment with positive weight" in answer["message"]


def test_mirrored_requests_are_copied_but_never_answered_and_never_when_a_deployment_is_named(azure):
    ml = sdk(azure)
    endpoint_with(ml, deployments=("blue", "green"))
    set_traffic(ml, "rules-ep", {"blue": 100}, mirror={"green": 20})
    azure.scorers[("rules-ep", "green")] = lambda body: (200, ["mirror"])
    answers = [score(azure, "rules-ep", {"input_data": {"data": [[1]]}})[1] for _ in range(500)]
    assert all(answer == [0] for answer in answers)
    assert 60 <= len(azure.mirrored) <= 140
    before = len(azure.mirrored)
    [score(azure, "rules-ep", {}, deployment="blue") for _ in range(50)]
    assert len(azure.mirrored) == before


def test_a_slow_model_is_a_408_a_failing_one_a_424_and_too_many_at_once_a_429(azure):
    from azure.ai.ml.entities import ManagedOnlineDeployment, OnlineRequestSettings

    ml = sdk(azure)
    endpoint_with(ml, deployments=("blue",))
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="slow", endpoint_name="rules-ep", model="azureml:diabetes:1", instance_type="Standard_DS3_v2",
        instance_count=1, request_settings=OnlineRequestSettings(request_timeout_ms=200,
                                                                 max_concurrent_requests_per_instance=1))).result()
    azure.scorers[("rules-ep", "slow")] = lambda body: (time.sleep(1), (200, [0]))[1]
    assert score(azure, "rules-ep", {}, deployment="slow")[0] == 408
    azure.scorers[("rules-ep", "blue")] = lambda body: (500, {"error": "model crashed"})
    status, _, headers = score(azure, "rules-ep", {}, deployment="blue")
    assert status == 424 and headers["ms-azureml-model-error-statuscode"] == "500"

    release = threading.Event()
    azure.scorers[("rules-ep", "slow")] = lambda body: (release.wait(0.15), (200, [1]))[1]
    with ThreadPoolExecutor(3) as pool:  # 2 x 1 request per instance x 1 instance are admitted at once
        futures = [pool.submit(score, azure, "rules-ep", {}, None, "slow") for _ in range(3)]
        time.sleep(0.05)
        statuses = sorted(future.result()[0] for future in futures)
    assert statuses == [200, 200, 429]


# -- jobs ------------------------------------------------------------------------------------------------

TRAIN = """import argparse, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--out")
out = pathlib.Path(parser.parse_args().out)
out.mkdir(parents=True, exist_ok=True)
(out / "model.txt").write_text("trained")
print("trained into", out)
"""


def run_job(ml, **settings):
    from azure.ai.ml import Output, command

    job = ml.jobs.create_or_update(command(environment=SKLEARN_ENV, compute="cpu-cluster",
                                           outputs={"model": Output(type="uri_folder")}, **settings))
    seen = [job.status]
    for _ in range(200):
        status = ml.jobs.get(job.name).status
        seen.append(status)
        if status in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.02)
    return job.name, seen


def test_a_command_job_runs_its_uploaded_code_and_keeps_only_what_it_wrote_to_its_outputs(azure, tmp_path):
    ml = sdk(azure)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN)
    name, seen = run_job(ml, code=str(tmp_path / "src"), command="python train.py --out ${{outputs.model}}")
    assert seen[0] == "Starting" and seen[-1] == "Completed"
    assert seen.index("Queued") < seen.index("Running") < seen.index("Finalizing")
    container = azure.storage.service().get_container_client(azure.blob_container)
    assert container.download_blob(f"azureml/{name}/model/model.txt").readall() == b"trained"

    name, seen = run_job(ml, code=str(tmp_path / "src"), command="python train.py --out elsewhere")
    assert seen[-1] == "Completed"
    assert list(container.list_blobs(name_starts_with=f"azureml/{name}/")) == []  # nothing written to the output

    name, seen = run_job(ml, command="python train.py --out ${{outputs.model}}")  # no code uploaded
    assert seen[-1] == "Failed"
    details = ml.jobs._runs_operations.get_run_details(name)
    assert "can't open file" in details.error.error.message and "exited with status code 2" in \
        details.error.error.message


def test_job_statuses_pause_cancel_and_an_unknown_compute(azure):
    from azure.ai.ml import command

    ml = sdk(azure)
    azure.fail_job("Paused", name="paused-job")
    ml.jobs.create_or_update(command(name="paused-job", command="sleep 1", environment=SKLEARN_ENV,
                                     compute="cpu-cluster"))
    assert [ml.jobs.get("paused-job").status for _ in range(8)][-1] == "Paused"  # not terminal, and it stays
    ml.jobs.create_or_update(command(name="long-job", command="sleep 30", environment=SKLEARN_ENV,
                                     compute="cpu-cluster"))
    while ml.jobs.get("long-job").status != "Running":
        pass
    ml.jobs.begin_cancel("long-job").result()
    assert ml.jobs.get("long-job").status == "Canceled"
    assert "Unknown compute target 'gpu-cluster'." in refused(lambda: ml.jobs.create_or_update(
        command(command="echo", environment=SKLEARN_ENV, compute="gpu-cluster")))


# -- sign-in ---------------------------------------------------------------------------------------------

def test_an_expired_token_is_refused_and_a_request_without_one_too(azure):
    from azure.core.exceptions import ClientAuthenticationError

    ml = sdk(azure)
    assert list(ml.models.list()) == []
    azure.clock += 3600  # the tokens Entra issued live 3599 s
    with pytest.raises(ClientAuthenticationError, match="ExpiredAuthenticationToken"):
        list(ml.models.list())
    status, body, _ = azure.request("GET", f"{azure.ws_id}/models", token="")
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"
    graph_token = azure._access_token(azure.identities[AZURE_CLIENT], "https://graph.microsoft.com")[0]
    status, body, _ = azure.request("GET", f"{azure.ws_id}/models", token=graph_token)
    assert status == 401 and "wrong audience" in body["error"]["message"]


def test_a_github_assertion_signs_in_until_it_expires_and_only_for_a_matching_subject(azure):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientAssertionCredential

    subject = "repo:contoso/diabetes:environment:production"
    azure.federate(AZURE_CLIENT, subject)
    transport = emulator_transport(azure.url)
    token = azure.github_token(subject, lifetime=300)
    once = ClientAssertionCredential(azure.tenant, AZURE_CLIENT, lambda: token, transport=transport)
    assert once.get_token("https://management.azure.com/.default").token
    azure.clock += 600
    stale = ClientAssertionCredential(azure.tenant, AZURE_CLIENT, lambda: token, transport=transport)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700024"):
        stale.get_token("https://management.azure.com/.default")
    fresh = ClientAssertionCredential(azure.tenant, AZURE_CLIENT, lambda: azure.github_token(subject),
                                      transport=transport)
    assert fresh.get_token("https://management.azure.com/.default").token
    other = ClientAssertionCredential(azure.tenant, AZURE_CLIENT,
                                      lambda: azure.github_token("repo:contoso/diabetes:ref:refs/heads/main"),
                                      transport=transport)
    with pytest.raises(ClientAuthenticationError, match="AADSTS70021"):
        other.get_token("https://management.azure.com/.default")


# -- identities and roles (Graph and ARM) ----------------------------------------------------------------

def test_a_managed_identity_has_no_application_and_its_federated_credentials_are_arm_resources(azure):
    managed = "11111111-0000-0000-0000-000000000001"
    azure.managed_identity(managed, "id-github")
    azure.grant(AZURE_CLIENT, "acdd72a7-3385-48ef-bd42-f606fba81ae7", scope=f"/subscriptions/{azure.subscription}")
    azure.federate(managed, "repo:contoso/diabetes:environment:staging")
    graph = {"host": "graph.microsoft.com", "api_version": ""}
    status, body, _ = azure.request("GET", f"/v1.0/applications(appId='{managed}')/federatedIdentityCredentials",
                                    **graph)
    assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound"
    status, body, _ = azure.request("GET", f"/v1.0/servicePrincipals(appId='{managed}')", **graph)
    assert status == 200 and body["servicePrincipalType"] == "ManagedIdentity"
    status, body, _ = azure.request("GET", f"/subscriptions/{azure.subscription}/providers/"
                                    "Microsoft.ManagedIdentity/userAssignedIdentities", api_version="2023-01-31")
    [identity] = body["value"]
    assert identity["properties"]["clientId"] == managed
    status, body, _ = azure.request("GET", identity["id"] + "/federatedIdentityCredentials", api_version="2023-01-31")
    [credential] = body["value"]
    assert credential["properties"] == {"issuer": "https://token.actions.githubusercontent.com", "subject":
                                        "repo:contoso/diabetes:environment:staging",
                                        "audiences": ["api://AzureADTokenExchange"]}


def test_role_assignments_at_scope_exclude_a_role_on_one_endpoint(azure):
    workflow = "22222222-0000-4000-8000-000000000002"
    principal = azure.app(workflow).principal_id
    azure.grant(workflow, "f6c7c914-8db3-469d-8ca1-694a8f32e121", scope=f"{azure.ws_id}/onlineEndpoints/one")
    roles = f"{azure.ws_id}/providers/Microsoft.Authorization/roleAssignments"

    def scopes(filter_):
        status, body, _ = azure.request("GET", f"{roles}?$filter={filter_}", api_version="2022-04-01")
        assert status == 200
        return [a["properties"]["scope"] for a in body["value"] if a["properties"]["principalId"] == principal]
    assert scopes("atScope()") == []
    assert scopes(f"assignedTo('{principal}')") == [f"{azure.ws_id}/onlineEndpoints/one".lower()]
    azure.grant(workflow, "b24988ac-6210-4c4c-b5ce-ef9fd3e8101f",
                scope=f"/subscriptions/{azure.subscription}/resourceGroups/{azure.resource_group}")
    assert scopes("atScope()") == [f"/subscriptions/{azure.subscription}/resourcegroups/{azure.resource_group}"]


def test_a_caller_needs_a_role_that_allows_the_request(azure):
    """learn.microsoft.com/azure/role-based-access-control/built-in-roles: AzureML Data Scientist writes assets
    but not compute (its NotActions); no role at all is 403 AuthorizationFailed (error-authorization-failed)."""
    from azure.ai.ml.entities import AmlCompute, Model
    from azure.core.exceptions import HttpResponseError

    scientist, stranger = "33333333-0000-4000-8000-000000000003", "44444444-0000-4000-8000-000000000004"
    azure.app(scientist, secret=SECRET)
    azure.grant(scientist, "f6c7c914-8db3-469d-8ca1-694a8f32e121")  # AzureML Data Scientist on the workspace
    azure.app(stranger, secret=SECRET)
    as_scientist, as_stranger = sdk(azure, scientist), sdk(azure, stranger)
    as_scientist.models.create_or_update(Model(name="diabetes", version="1", path=MODEL_URI))
    with pytest.raises(HttpResponseError, match="AuthorizationFailed") as caught:  # no compute for a scientist
        as_scientist.compute.begin_create_or_update(AmlCompute(name="gpu-cluster", size="Standard_NC6")).result()
    assert caught.value.status_code == 403 and "gpu-cluster" not in azure.computes
    with pytest.raises(HttpResponseError, match="does not have authorization to perform action 'read'"):
        list(as_stranger.models.list())


def test_a_token_for_another_tenant_is_refused(azure):
    """A tenant Entra ID does not know is AADSTS90002 (learn.microsoft.com/entra/identity-platform/
    reference-error-codes)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    wrong = ClientSecretCredential("11111111-0000-0000-0000-00000000dead", AZURE_CLIENT, SECRET,
                                   transport=emulator_transport(azure.url))
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):  # AADSTS90002
        wrong.get_token("https://management.azure.com/.default")
