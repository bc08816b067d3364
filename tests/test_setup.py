"""mlops-actions setup: checks what the workflows need, and creates it with --apply."""

from pathlib import Path

import pytest

from azureml_emulator import Emulator
from mlops_actions import setup
from mlops_actions.backends import azureml
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
def workspace(monkeypatch):
    emulator = Emulator(subscription="11111111-2222-3333-4444-555555555555", resource_group="rg-mlops",
                        workspace="mlw-diabetes", computes={})
    server, url = emulator.serve()
    monkeypatch.setenv(azureml.EMULATOR, url)
    yield emulator
    server.shutdown()


def test_azureml_checks_the_workspace_and_compute_and_prints_the_identity_commands(workspace, runner, capsys):
    config = str(GOLDEN / "azureml" / "mlops.yml")
    assert call(config=config, repository="contoso/diabetes") == 1
    out = capsys.readouterr().out
    assert "Workspace: mlw-diabetes (eastus)" in out
    assert ("Fix: az ml compute create -n cpu-cluster --type amlcompute --size Standard_DS3_v2 --min-instances 0 "
            "--max-instances 2 -g rg-mlops -w mlw-diabetes") in out
    for subject in ("ref:refs/heads/trunk", "environment:staging", "environment:production"):
        assert f'"subject": "repo:contoso/diabetes:{subject}"' in out
    assert ('az role assignment create --assignee aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee --role "AzureML Data '
            'Scientist" --scope /subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-mlops/'
            'providers/Microsoft.MachineLearningServices/workspaces/mlw-diabetes') in out
    assert workspace.calls("PUT") == []  # a dry run creates nothing

    assert call(config=config, repository="contoso/diabetes", apply="true") == 0
    assert workspace.computes == {"cpu-cluster": "AmlCompute"}


def test_a_missing_workspace_is_reported_with_its_fix(workspace, runner, capsys):
    workspace.workspace = "another"
    assert call(config=str(GOLDEN / "azureml" / "mlops.yml")) == 1
    assert "Fix: az ml workspace create -n mlw-diabetes -g rg-mlops" in capsys.readouterr().out
