"""mlops-actions setup: checks what the workflows need, and creates it with --apply."""

import shutil
from pathlib import Path

import pytest

from mlops_actions import setup
from mlops_actions.github import ActionError
from mlops_actions.inputs import Inputs

from azureml_emulator.identity import READER

GOLDEN = Path(__file__).resolve().parent / "golden"


def golden(runner, name: str = "azureml") -> str:
    """A golden config, copied into the runner's workspace (where a workflow's checkout has it)."""
    return str(shutil.copy(GOLDEN / name / "mlops.yml", runner.workspace))


def call(**flags):
    return setup.run(Inputs.read(setup.INPUTS, {"github": "false", **flags}, environ={}))  # GitHub: test_setup_github


def test_local_dry_run_reports_the_missing_state_folder_and_apply_creates_it(runner, tmp_path, capsys):
    state = tmp_path / "state"
    config = golden(runner, "local")
    assert call(config=config, **{"state-dir": str(state)}) == 1
    assert not state.exists()  # a dry run changes nothing
    assert f"missing: state folder {state}" in capsys.readouterr().out
    assert call(config=config, apply="true", **{"state-dir": str(state)}) == 0
    assert (state / "mlflow.db").is_file()
    assert call(config=config, **{"state-dir": str(state)}) == 0 and runner.outputs()["missing"] == ""


CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"  # the golden azureml config's client-id: the workflow's identity


@pytest.fixture
def workspace(emulate):
    """A workspace; setup runs as a person with Contributor (AZURE_CLIENT) and checks the workflow's identity."""
    emulator = emulate(subscription="11111111-2222-3333-4444-555555555555", resource_group="rg-mlops",
                       workspace="mlw-diabetes", computes={})
    emulator.app(CLIENT, secret=None)
    return emulator


DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"


def test_azureml_checks_workspace_compute_and_identity_and_gives_each_fix(workspace, runner, capsys):
    workspace.federate(CLIENT, "repo:contoso/diabetes:environment:staging")
    workspace.federate(CLIENT, "repo:contoso/diabetes:environment:prod")  # production, renamed on Azure's side
    config = golden(runner)
    assert call(config=config, repository="contoso/diabetes") == 1
    out = capsys.readouterr().out
    assert ("no credential for repo:contoso/diabetes:environment:production: the sign-in of the job that deploys to "
            "production fails. The identity has credentials for environment prod, which no generated workflow uses: "
            "renamed?") in out
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


COMPARER = "cccccccc-bbbb-cccc-dddd-000000000009"  # the pull-request comparison's own identity


def test_the_pull_request_comparisons_identity_needs_the_pull_request_subject_and_reader_on_production(
        workspace, runner, capsys):
    config = runner.workspace / "mlops.yml"
    config.write_text((GOLDEN / "azureml" / "mlops.yml").read_text()
                      + f"pull-request:\n  compare: true\n  client-id: {COMPARER}\n")
    for subject in ("ref:refs/heads/trunk", "environment:staging", "environment:production"):
        workspace.federate(CLIENT, f"repo:contoso/diabetes:{subject}")
    workspace.grant(CLIENT, DATA_SCIENTIST)
    workspace.app(COMPARER, secret=None)
    assert call(config=str(config), repository="contoso/diabetes", apply="true") == 1
    out = capsys.readouterr().out
    assert "no credential for repo:contoso/diabetes:pull_request" in out
    assert '"subject": "repo:contoso/diabetes:pull_request"' in out
    workspace.federate(COMPARER, "repo:contoso/diabetes:pull_request")
    assert call(config=str(config), repository="contoso/diabetes", apply="true") == 1
    assert f'az role assignment create --assignee {COMPARER} --role "Reader"' in capsys.readouterr().out
    workspace.grant(COMPARER, READER)
    assert call(config=str(config), repository="contoso/diabetes", apply="true") == 0
    assert "Role on production's workspace (pull-request comparison): Reader" in capsys.readouterr().out


def test_a_missing_workspace_is_reported_with_its_fix(workspace, runner, capsys):
    workspace.workspace = "another"
    assert call(config=golden(runner)) == 1
    assert "Fix: az ml workspace create -n mlw-diabetes -g rg-mlops" in capsys.readouterr().out


def config_with(runner, **replace) -> str:
    """The golden azureml config with some lines replaced."""
    text = (GOLDEN / "azureml" / "mlops.yml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    (runner.workspace / "mlops.yml").write_text(text)
    return str(runner.workspace / "mlops.yml")


SUBJECTS = [f"repo:contoso/diabetes:{s}" for s in ("ref:refs/heads/trunk", "environment:staging",
                                                   "environment:production")]


def test_a_managed_identitys_credentials_are_read_through_arm_with_their_fix(workspace, runner, capsys, tmp_path):
    managed = "12121212-3434-5656-7878-909090909090"
    workspace.managed_identity(managed, "id-github-diabetes")
    workspace.federate(managed, SUBJECTS[1])
    workspace.grant(managed, DATA_SCIENTIST)
    config = config_with(runner, **{CLIENT: managed, "  compute: cpu-cluster\n": "",
                                    "  train-environment: azureml:diabetes-train:1\n": ""})
    assert call(config=config, repository="contoso/diabetes") == 1
    out = capsys.readouterr().out
    assert f"Federated credential staging: {SUBJECTS[1]} (managed identity)" in out
    assert (f"az identity federated-credential create --name production --identity-name id-github-diabetes "
            f"--resource-group rg-mlops --issuer https://token.actions.githubusercontent.com --subject {SUBJECTS[2]} "
            "--audiences api://AzureADTokenExchange") in out
    assert "Role on the workspace: AzureML Data Scientist" in out
    assert "Compute cluster" not in out  # the workflows train on the runner: no cluster to ask for


def test_a_credential_with_the_wrong_audience_or_a_role_on_one_endpoint_is_not_enough(workspace, runner, capsys):
    for subject in SUBJECTS:
        workspace.federate(CLIENT, subject, audiences=("api://AzureADTokenExchange",) if "trunk" in subject
                           else ("https://example.com",))
    workspace.grant(CLIENT, DATA_SCIENTIST, scope=f"{workspace.ws_id}/onlineEndpoints/diabetes-prd")
    assert call(config=golden(runner), repository="contoso/diabetes") == 1
    out = capsys.readouterr().out
    assert f"Federated credential main: {SUBJECTS[0]} (app registration)" in out
    assert (f"the credential for {SUBJECTS[1]} has issuer https://token.actions.githubusercontent.com and audiences "
            "https://example.com; GitHub's tokens need") in out
    assert "the identity has no AzureML Data Scientist (or Contributor) role" in out


def test_apply_errors_are_clear_errors_not_tracebacks(workspace, runner):
    for subject in SUBJECTS:
        workspace.federate(CLIENT, subject)
    workspace.grant(CLIENT, DATA_SCIENTIST)
    workspace.fail_next("PUT", r"/computes/cpu-cluster$", 403, body={"error": {
        "code": "AuthorizationFailed", "message": "no write permission on computes"}})
    with pytest.raises(ActionError) as caught:
        call(config=golden(runner), repository="contoso/diabetes", apply="true")
    assert caught.value.title == "Azure ML refused: creating the compute cluster"
    assert "AuthorizationFailed: no write permission on computes" in str(caught.value)


def test_a_client_id_no_identity_has_is_said_so(workspace, runner, capsys, tmp_path):
    config = config_with(runner, **{CLIENT: "99999999-0000-4000-8000-000000000009"})
    assert call(config=config, repository="contoso/diabetes") == 1
    assert ("no app registration or user-assigned managed identity has client ID "
            "99999999-0000-4000-8000-000000000009") in capsys.readouterr().out


# -- separate workspaces and identities per environment, and a registry (tests/golden/promotion) ------------------

IDENTITIES = {"ci": "aaaaaaaa-bbbb-cccc-dddd-000000000001", "staging": "aaaaaaaa-bbbb-cccc-dddd-000000000002",
              "production": "aaaaaaaa-bbbb-cccc-dddd-000000000003"}
REGISTRY_USER = "1823dd4f-9b8c-4ab6-ab4e-7397a3684615"
PROD_SUBSCRIPTION = "22222222-3333-4444-5555-666666666666"


@pytest.fixture
def workspaces(emulate):
    """CI's workspace (azure:), staging's and production's (in another subscription), as the promotion golden
    config names them; each identity an app registration; setup runs as a person with Contributor on each."""
    dev = emulate(subscription="11111111-2222-3333-4444-555555555555", resource_group="rg-ml-dev",
                  workspace="mlw-credit-dev", computes={}, workspaces=[
                      {"workspace": "mlw-credit-staging", "resource_group": "rg-ml-staging"},
                      {"workspace": "mlw-credit-prod", "resource_group": "rg-ml-prod",
                       "subscription": PROD_SUBSCRIPTION}])
    for client in IDENTITIES.values():
        dev.app(client, secret=None)
    dev.staging, dev.production = dev.workspaces[1:]
    dev.registry_id = (f"/subscriptions/{dev.subscription}/resourceGroups/rg-ml-dev/providers/"
                       "Microsoft.MachineLearningServices/registries/contoso-models")
    return dev


def all_in_place(dev) -> None:
    dev.create_registry("contoso-models")
    dev.federate(IDENTITIES["ci"], "repo:contoso/credit:ref:refs/heads/main")
    dev.federate(IDENTITIES["staging"], "repo:contoso/credit:environment:staging")
    dev.federate(IDENTITIES["production"], "repo:contoso/credit:environment:production-eu")
    dev.grant(IDENTITIES["ci"], DATA_SCIENTIST)
    dev.grant(IDENTITIES["ci"], REGISTRY_USER, scope=dev.registry_id)
    dev.grant(IDENTITIES["staging"], DATA_SCIENTIST, scope=dev.staging.ws_id)
    dev.grant(IDENTITIES["staging"], READER, scope=dev.registry_id)
    dev.grant(IDENTITIES["production"], DATA_SCIENTIST, scope=dev.production.ws_id)
    dev.grant(IDENTITIES["production"], REGISTRY_USER, scope=dev.registry_id)


def test_each_environments_workspace_identity_and_the_registry_are_checked(workspaces, runner, capsys):
    all_in_place(workspaces)
    assert call(config=golden(runner, "promotion"), repository="contoso/credit") == 0
    out = capsys.readouterr().out
    for line in ("Workspace: mlw-credit-dev (eastus)", "Workspace (staging): mlw-credit-staging (eastus)",
                 "Workspace (production): mlw-credit-prod (eastus)",
                 "Federated credential main: repo:contoso/credit:ref:refs/heads/main (app registration)",
                 "Federated credential staging: repo:contoso/credit:environment:staging (app registration)",
                 "Federated credential production-eu: repo:contoso/credit:environment:production-eu",
                 "Role on the workspace: AzureML Data Scientist",
                 "Role on the workspace (staging): AzureML Data Scientist",
                 "Role on the workspace (production): AzureML Data Scientist",
                 f"Registry: {workspaces.registry_id}", "Role on the registry (CI): AzureML Registry User",
                 "Role on the registry (staging): Reader",
                 "Role on the registry (production-eu): AzureML Registry User"):
        assert line in out, line
    assert runner.outputs()["missing"] == ""


def test_each_gap_per_environment_has_its_az_fix(workspaces, runner, capsys):
    dev = workspaces
    all_in_place(dev)
    dev.identities[IDENTITIES["staging"]].federated.clear()  # staging's credential: on CI's identity instead
    dev.federate(IDENTITIES["ci"], "repo:contoso/credit:environment:staging")
    dev.identities[IDENTITIES["production"]].roles = [(dev.staging.ws_id, DATA_SCIENTIST),  # on staging, not prod
                                                      (dev.registry_id, REGISTRY_USER)]
    dev.identities[IDENTITIES["ci"]].roles = [(dev.ws_id, DATA_SCIENTIST)]  # none on the registry
    dev.grant(IDENTITIES["ci"], DATA_SCIENTIST, scope=dev.registry_id)  # a workspace's role: no registry access
    assert call(config=golden(runner, "promotion"), repository="contoso/credit") == 1
    out = capsys.readouterr().out
    assert ('az ad app federated-credential create --id aaaaaaaa-bbbb-cccc-dddd-000000000002 --parameters '
            '\'{"name": "staging", "issuer": "https://token.actions.githubusercontent.com", "subject": '
            '"repo:contoso/credit:environment:staging", "audiences": ["api://AzureADTokenExchange"]}\'') in out
    assert ("az role assignment create --assignee aaaaaaaa-bbbb-cccc-dddd-000000000003 --role \"AzureML Data "
            f"Scientist\" --scope {dev.production.ws_id}") in out
    assert ("az role assignment create --assignee aaaaaaaa-bbbb-cccc-dddd-000000000001 --role \"AzureML Registry "
            f"User\" --scope {dev.registry_id}") in out
    assert "Role on the workspace (staging): AzureML Data Scientist" in out  # what is in place stays quiet
    assert f"--scope {dev.staging.ws_id}" not in out
    missing = runner.outputs()["missing"].splitlines()
    assert missing == ["federated credential repo:contoso/credit:environment:staging",
                       "role AzureML Data Scientist for aaaaaaaa-bbbb-cccc-dddd-000000000003 on workspace "
                       "mlw-credit-prod",
                       "role AzureML Registry User for aaaaaaaa-bbbb-cccc-dddd-000000000001 on registry contoso-models"]
    assert dev.calls("PUT") == [] and dev.calls("POST", "/registries/") == []  # a dry run creates nothing


def test_a_missing_registry_and_a_missing_production_workspace_are_reported_with_fixes(workspaces, runner, capsys):
    all_in_place(workspaces)
    workspaces.registries.clear()
    workspaces.production.workspace = "elsewhere"
    assert call(config=golden(runner, "promotion"), repository="contoso/credit") == 1
    out = capsys.readouterr().out
    assert ("Fix: az ml workspace create -n mlw-credit-prod -g rg-ml-prod --subscription "
            f"{PROD_SUBSCRIPTION}") in out
    assert ("cat > registry.yml <<'EOF'\nname: contoso-models\nlocation: eastus\nreplication_locations:\n"
            "  - location: eastus\nEOF\naz ml registry create -g rg-ml-dev --file registry.yml") in out
    assert runner.outputs()["missing"].splitlines() == [
        "workspace mlw-credit-prod", "role AzureML Data Scientist for aaaaaaaa-bbbb-cccc-dddd-000000000003 on "
        "workspace mlw-credit-prod", "registry contoso-models"]


def test_without_a_registry_productions_identity_must_read_stagings_workspace(workspaces, runner, capsys, tmp_path):
    all_in_place(workspaces)
    text = (GOLDEN / "promotion" / "mlops.yml").read_text().replace("registry:\n  name: contoso-models\n", "")
    (runner.workspace / "mlops.yml").write_text(text)
    config = str(runner.workspace / "mlops.yml")
    assert call(config=config, repository="contoso/credit") == 1
    out = capsys.readouterr().out
    assert "Registry" not in out
    assert ("az role assignment create --assignee aaaaaaaa-bbbb-cccc-dddd-000000000003 --role \"Reader\" --scope "
            f"{workspaces.staging.ws_id}") in out
    workspaces.grant(IDENTITIES["production"], READER, scope=workspaces.staging.ws_id)
    assert call(config=config, repository="contoso/credit") == 0
    assert "Role on staging's workspace (production): Reader" in capsys.readouterr().out
