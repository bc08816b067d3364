"""An Azure ML registry through the real azure-ai-ml SDK (MLClient(registry_name=...)), against the emulator's
registry discovery and registry data plane: registering into a registry, sharing a workspace's version into it
(promote-model), deploying a registry's version, and a registry that does not exist."""

import pytest

from conftest import as_runner
from mlops_actions import deploy, promote, register
from mlops_actions.backends import CONTENT_HASH_TAG
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs

URI = "azureml://datastores/workspaceblobstore/paths/models/credit/1"
REFERENCE = "azureml://registries/shared/models/credit/versions/1"


@pytest.fixture
def azure(emulate, monkeypatch, tmp_path):
    emulator = emulate()
    emulator.create_registry("shared")
    (tmp_path / "runner").mkdir()
    emulator.runner = as_runner(monkeypatch, tmp_path / "runner", tmp_path)
    for folder, weights in (("model", "1 2 3"), ("other", "4 5 6")):  # files, uploaded into the registry
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n")
        (tmp_path / folder / "weights.txt").write_text(weights)
    return emulator


FILES = {"model-path": "model"}


def call(job, emulator, **flags):
    emulator.runner.output_file.unlink(missing_ok=True)
    workspace = {"backend": "azureml", "subscription-id": emulator.subscription, "resource-group": "rg",
                 "workspace": "ws"}
    assert job.run(Inputs.read(job.INPUTS, {**workspace, **flags}, environ={})) == 0
    return emulator.runner.outputs()


def registry_calls(emulator, method: str, contains: str) -> list:
    return [call for call in emulator.calls(method, contains) if call[1].endswith(".experiments.azureml.net")]


def test_registered_once_into_the_registry_then_deployed_from_its_reference(azure):
    first = call(register, azure, **{"model-name": "credit", **FILES, "registry": "shared"})
    assert first == {"model-name": "credit", "model-version": "1", "model-uri": REFERENCE,
                     "already-registered": "false"}
    assert ("GET", "eastus.api.azureml.ms", "/registrymanagement/v1.0/registries/shared/discovery") in azure.requests
    assert len(registry_calls(azure, "PUT", "/registries/shared/models/credit/versions/1")) == 1
    assert azure.models == {}  # nothing in the workspace
    stored = azure.registries["shared"]["credit"]["1"]["properties"]
    assert stored["tags"][CONTENT_HASH_TAG] and stored["modelType"] == "mlflow_model"
    assert registry_calls(azure, "PUT", "/registries/shared/tempdatarefs/credit/versions/1")  # the upload's SAS
    again = call(register, azure, **{"model-name": "credit", **FILES, "registry": "shared"})
    assert again["already-registered"] == "true" and again["model-uri"] == REFERENCE
    assert len(registry_calls(azure, "PUT", "/models/credit/versions/")) == 1  # nothing registered twice

    deployed = call(deploy, azure, **{"endpoint-name": "credit-stg", "model-name": REFERENCE})
    assert deployed["model-uri"] == REFERENCE
    [body] = azure.sent("PUT", "/onlineEndpoints/credit-stg/deployments/blue")
    assert body["properties"]["model"] == REFERENCE  # the registry's version itself, not a workspace copy
    assert azure.models == {}


def test_a_workspace_version_is_shared_into_the_registry_once(azure):
    call(register, azure, **{"model-name": "credit", "model-path": URI, "tags": "{team: risk}"})
    flags = {"model-name": "credit", "model-version": "1", "from-workspace": "ws", "registry": "shared"}
    shared = call(promote, azure, **flags)
    assert shared == {"model-name": "credit", "model-version": "1", "model-uri": REFERENCE,
                      "already-promoted": "false"}
    [request] = [body for method, path, body in azure.bodies if path.endswith("/registries/shared/import")]
    assert request["properties"]["sourceAssetId"] == \
        f"azureml://locations/eastus/workspaces/{azure.workspace_guid}/models/credit/versions/1"
    copied, source = azure.registries["shared"]["credit"]["1"]["properties"], azure.models["credit"]["1"]["properties"]
    assert copied["tags"] == source["tags"] and copied["tags"]["team"] == "risk"
    assert copied["modelUri"] == source["modelUri"]
    again = call(promote, azure, **flags)
    assert again["already-promoted"] == "true" and again["model-uri"] == REFERENCE
    assert len(registry_calls(azure, "POST", "/registries/shared/import")) == 1


def test_a_version_whose_content_differs_in_the_registry_is_refused_and_nothing_is_shared(azure):
    call(register, azure, **{"model-name": "credit", **FILES, "model-path": "other", "registry": "shared"})
    call(register, azure, **{"model-name": "credit", "model-path": URI})  # the workspace's version 1: other files
    with pytest.raises(ActionError, match="credit version 1 in registry shared holds other files .* Nothing was "
                                          "copied"):
        call(promote, azure, **{"model-name": "credit", "model-version": "1", "from-workspace": "ws",
                                "registry": "shared"})
    assert registry_calls(azure, "POST", "/import") == []
    assert list(azure.registries["shared"]["credit"]) == ["1"]


def test_a_registry_that_does_not_exist_is_a_clear_error_and_nothing_is_registered(azure):
    with pytest.raises(ActionError) as caught:
        call(register, azure, **{"model-name": "credit", **FILES, "registry": "nowhere"})
    assert "Azure ML has no registry nowhere (registry discovery answered 404 Not Found). Fix: create it" in \
        str(caught.value)
    assert azure.calls("PUT") == [] and azure.models == {}
    with pytest.raises(ActionError, match="Azure ML has no registry nowhere"):
        call(deploy, azure, **{"endpoint-name": "credit-stg",
                               "model-name": "azureml://registries/nowhere/models/credit/versions/1"})
    assert azure.calls("PUT", "/onlineEndpoints/") == []


def test_a_datastore_uri_into_a_registry_is_refused_before_any_call(azure):
    with pytest.raises(InputError, match="a workspace's datastore URI, which registry shared cannot hold. Fix: give "
                                         "the model's folder"):
        call(register, azure, **{"model-name": "credit", "model-path": URI, "registry": "shared"})
    assert azure.requests == []


def test_a_champion_deployed_from_the_registry_is_read_there_in_the_workspace_named_by_its_resource_id(azure):
    metrics = azure.runner.workspace / "metrics.json"

    def challenge(folder: str, auc: float) -> int:
        metrics.write_text(f'{{"auc": {auc}}}')
        workspace_id = (f"/subscriptions/{azure.subscription}/resourceGroups/rg/providers/"
                        "Microsoft.MachineLearningServices/workspaces/ws")
        return register.run(Inputs.read(register.INPUTS, {
            "backend": "azureml", "subscription-id": azure.subscription, "resource-group": "elsewhere",
            "workspace": "ws", "model-name": "credit", "model-path": folder, "registry": "shared",
            "metrics-file": str(metrics), "metrics-gate": "auc >= champion.auc - 0.005",
            "champion-endpoint": "credit-prd", "champion-workspace": workspace_id}, environ={}))

    assert challenge("model", 0.9) == 0  # no champion yet
    call(deploy, azure, **{"endpoint-name": "credit-prd", "model-name": REFERENCE})
    assert challenge("other", 0.8949) == 1  # the champion's metric.auc, read from the registry's version 1
    assert list(azure.registries["shared"]["credit"]) == ["1"]
    assert challenge("other", 0.895) == 0 and azure.runner.outputs()["model-version"] == "2"


def test_a_registry_takes_models_from_azureml_registry_user_not_from_a_workspace_role(azure, monkeypatch):
    writer = "6d6d6d6d-1111-4222-8333-444444444444"
    azure.app(writer, secret="writer-secret")
    group = f"/subscriptions/{azure.subscription}/resourceGroups/rg"
    azure.grant(writer, "f6c7c914-8db3-469d-8ca1-694a8f32e121", scope=group)  # AzureML Data Scientist
    monkeypatch.setenv("AZURE_CLIENT_ID", writer)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "writer-secret")
    with pytest.raises(ActionError, match="AuthorizationFailed: The client '6d6d6d6d-1111-4222-8333-444444444444'"):
        call(register, azure, **{"model-name": "credit", **FILES, "registry": "shared"})
    assert azure.registries["shared"] == {}
    registry = f"{group}/providers/Microsoft.MachineLearningServices/registries/shared"
    azure.grant(writer, "1823dd4f-9b8c-4ab6-ab4e-7397a3684615", scope=registry)  # AzureML Registry User
    assert call(register, azure, **{"model-name": "credit", **FILES, "registry": "shared"})["model-uri"] == REFERENCE
