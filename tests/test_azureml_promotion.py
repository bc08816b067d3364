"""Workspace-to-workspace promotion on the azureml backend, through the real azure-ai-ml SDK against an emulator
holding two workspaces (staging and production, each in its resource group, sharing one Azurite): promote-model
copies staging's version into production (its number, files, content hash and tags, with its lineage), once;
refuses a production version of that number with other files; a clear error when the identity cannot read
staging; and production deploys the promoted version."""

import pytest

from conftest import as_runner
from mlops_actions import deploy, promote, register
from mlops_actions.backends import CONTENT_HASH_TAG
from mlops_actions.github import ActionError
from mlops_actions.inputs import Inputs

CONTRIBUTOR = "b24988ac-6210-4c4c-b5ce-ef9fd3e8101f"
STAGING = {"resource-group": "rg-staging", "workspace": "mlw-staging"}
PRODUCTION = {"resource-group": "rg-prod", "workspace": "mlw-prod"}
FROM_STAGING = {"model-name": "credit", "model-version": "1", "from-workspace": "mlw-staging",
                "from-resource-group": "rg-staging", **PRODUCTION}


@pytest.fixture
def azure(emulate, monkeypatch, tmp_path):
    staging = emulate(resource_group="rg-staging", workspace="mlw-staging",
                      workspaces=[{"workspace": "mlw-prod", "resource_group": "rg-prod"}])
    staging.production = staging.workspaces[1]
    (tmp_path / "runner").mkdir()
    staging.runner = as_runner(monkeypatch, tmp_path / "runner", tmp_path)
    for folder, weights in (("model", "1 2 3"), ("other", "4 5 6")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n")
        (tmp_path / folder / "weights.txt").write_text(weights)
    return staging


def call(job, emulator, where: dict, **flags):
    emulator.runner.output_file.unlink(missing_ok=True)
    inputs = {"backend": "azureml", "subscription-id": emulator.subscription, **where, **flags}
    assert job.run(Inputs.read(job.INPUTS, inputs, environ={})) == 0
    return emulator.runner.outputs()


def version_puts(emulator, workspace) -> list:
    return [c for c in emulator.calls("PUT", f"{workspace.ws_id}/models/credit/versions/")]


def files(workspace, tmp_path, name: str) -> dict:
    uri = workspace.models["credit"]["1"]["properties"]["modelUri"]
    copied = workspace.download(uri, tmp_path / name)
    return {path: (tmp_path / name / path).read_text() for path in copied}


def test_staging_version_is_promoted_into_production_once_and_deployed_there(azure, tmp_path):
    production = azure.production
    call(register, azure, STAGING, **{"model-name": "credit", "model-path": "model", "tags": "{team: risk}"})
    source = azure.models["credit"]["1"]["properties"]
    assert production.models == {}

    promoted = call(promote, azure, PRODUCTION, **FROM_STAGING)
    assert promoted == {"model-name": "credit", "model-version": "1", "model-uri": "azureml:credit:1",
                        "already-promoted": "false"}
    copied = production.models["credit"]["1"]["properties"]
    assert copied["tags"][CONTENT_HASH_TAG] == source["tags"][CONTENT_HASH_TAG]
    assert copied["tags"]["team"] == "risk"
    assert copied["tags"][promote.PROMOTED_FROM_TAG].startswith("workspace mlw-staging (resource group rg-staging)")
    assert {k: v for k, v in copied["tags"].items() if k != promote.PROMOTED_FROM_TAG} == source["tags"]
    # production's own copy of the files, in its own storage: staging's can go without production losing them
    assert production.blob_location(copied["modelUri"])[0] not in (azure.blob_container, None)
    assert not production.blob_location(copied["modelUri"])[0].startswith(azure.workspace_guid)
    assert files(production, tmp_path, "prod") == files(azure, tmp_path, "staging") != {}
    assert list(azure.models["credit"]) == ["1"]  # staging untouched

    again = call(promote, azure, PRODUCTION, **FROM_STAGING)
    assert again["already-promoted"] == "true" and again["model-version"] == "1"
    assert len(version_puts(azure, production)) == 1  # nothing registered twice

    deployed = call(deploy, azure, PRODUCTION, **{"endpoint-name": "credit-prod", "model-name": "credit",
                                                  "model-version": "1"})
    assert deployed["model-uri"] == "azureml:credit:1"
    [body] = azure.sent("PUT", f"{production.ws_id}/onlineEndpoints/credit-prod/deployments/blue")
    assert body["properties"]["model"].lower() == f"{production.ws_id}/models/credit/versions/1".lower()
    assert "credit-prod" in production.endpoints and azure.endpoints == {}


def test_a_production_version_with_other_files_is_refused_and_nothing_is_copied(azure):
    call(register, azure, STAGING, **{"model-name": "credit", "model-path": "model"})
    call(register, azure, PRODUCTION, **{"model-name": "credit", "model-path": "other"})  # production's own 1
    with pytest.raises(ActionError, match="credit version 1 in workspace mlw-prod holds other files .* Nothing was "
                                          "copied"):
        call(promote, azure, PRODUCTION, **FROM_STAGING)
    assert len(version_puts(azure, azure.production)) == 1
    assert promote.PROMOTED_FROM_TAG not in azure.production.models["credit"]["1"]["properties"]["tags"]


def test_an_identity_that_cannot_read_staging_gets_azures_403_and_nothing_is_registered(azure, monkeypatch):
    call(register, azure, STAGING, **{"model-name": "credit", "model-path": "model"})
    deployer = "5e5e5e5e-1111-4222-8333-444444444444"  # production's identity: a role there, none on staging
    azure.app(deployer, secret="deployer-secret")
    azure.grant(deployer, CONTRIBUTOR, scope=azure.production.ws_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", deployer)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "deployer-secret")
    with pytest.raises(ActionError) as caught:
        call(promote, azure, PRODUCTION, **FROM_STAGING)
    message = str(caught.value)
    assert message.startswith("reading the model: AuthorizationFailed: The client '5e5e5e5e-"), message
    assert "over scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-staging/providers/" \
           "Microsoft.MachineLearningServices/workspaces/mlw-staging/models/credit/versions/1'" in message
    assert "Fix: give the workflow's identity a role on the workspace" in message
    assert ("GET", f"{azure.ws_id}/models/credit/versions/1", 403) in azure.answered
    assert azure.production.models == {} and version_puts(azure, azure.production) == []
