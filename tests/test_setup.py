"""mlops-actions setup: checks what the workflows need, and creates it with --apply."""

from pathlib import Path

import pytest

from conftest import AZURE_CLIENT
from mlops_actions import setup
from mlops_actions.inputs import Inputs

GOLDEN = Path(__file__).resolve().parent / "golden"


def call(**flags):
    return setup.run(Inputs.read(setup.INPUTS, flags, environ={}))


def test_local_dry_run_reports_the_missing_state_folder_and_apply_creates_it(runner, tmp_path, capsys):
    state = tmp_path / "state"
    config = str(GOLDEN / "local" / "mlops.yml")
    assert call(config=config, **{"state-dir": str(state)}) == 1
    assert not state.exists()  # a dry run changes nothing
    assert f"missing: state folder {state}" in capsys.readouterr().out
    assert call(config=config, apply="true", **{"state-dir": str(state)}) == 0
    assert (state / "mlflow.db").is_file()
    assert call(config=config, **{"state-dir": str(state)}) == 0 and runner.outputs()["missing"] == ""


@pytest.fixture
def workspace(emulate):
    return emulate(subscription="11111111-2222-3333-4444-555555555555", resource_group="rg-mlops",
                   workspace="mlw-diabetes", computes={})


CLIENT = AZURE_CLIENT  # the golden azureml config's client-id
DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"


def test_azureml_checks_workspace_compute_and_identity_and_gives_each_fix(workspace, runner, capsys):
    workspace.federate(CLIENT, "repo:contoso/diabetes:environment:staging")
    config = str(GOLDEN / "azureml" / "mlops.yml")
    assert call(config=config, repository="contoso/diabetes") == 1
    out = capsys.readouterr().out
    assert "Workspace: mlw-diabetes (eastus)" in out
    assert ("Fix: az ml compute create -n cpu-cluster --type amlcompute --size Standard_DS3_v2 --min-instances 0 "
            "--max-instances 2 -g rg-mlops -w mlw-diabetes") in out
    assert "Federated credential staging: repo:contoso/diabetes:environment:staging" in out  # it has this one
    for subject in ("ref:refs/heads/trunk", "environment:production"):  # and not these
        assert f'"subject": "repo:contoso/diabetes:{subject}"' in out
    assert '"subject": "repo:contoso/diabetes:environment:staging"' not in out
    assert (f'az role assignment create --assignee {CLIENT} --role "AzureML Data Scientist" --scope /subscriptions/'
            "11111111-2222-3333-4444-555555555555/resourceGroups/rg-mlops/providers/Microsoft.MachineLearningServices/"
            "workspaces/mlw-diabetes") in out
    assert workspace.calls("PUT") == []  # a dry run creates nothing

    # once a person has granted the identity its credentials and role, --apply creates the compute
    granted = ("ref:refs/heads/trunk", "environment:staging", "environment:production")
    workspace.identities[CLIENT].federated.clear()
    for subject in granted:
        workspace.federate(CLIENT, f"repo:contoso/diabetes:{subject}")
    workspace.grant(CLIENT, DATA_SCIENTIST)
    assert call(config=config, repository="contoso/diabetes", apply="true") == 0
    assert workspace.computes == {"cpu-cluster": "AmlCompute"}
    assert "Role on the workspace: AzureML Data Scientist" in capsys.readouterr().out


def test_a_missing_workspace_is_reported_with_its_fix(workspace, runner, capsys):
    workspace.workspace = "another"
    assert call(config=str(GOLDEN / "azureml" / "mlops.yml")) == 1
    assert "Fix: az ml workspace create -n mlw-diabetes -g rg-mlops" in capsys.readouterr().out
