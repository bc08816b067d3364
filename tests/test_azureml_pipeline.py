"""The golden azureml config, end to end against the Azure ML emulator, through act running the generated
workflows: a push to the trunk trains on Azure ML compute (the project uploaded as the job's code), brings
the metrics back for the gate, registers the job's model, and CD deploys it as a custom model served by its
own scoring script (uploaded through blob storage) to staging and production, smoke-tests it, moves the
traffic and points the Azure ML model monitor at it. The actions sign in through GitHub OIDC, as on a runner
(azure/login is an offline stand-in)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import AZURE_CLIENT
from mlops_actions import act

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "azureml" / "mlops.yml"
LIBRARY = "OWNER/mlops-actions@v1"
SUBJECT = "repo:contoso/diabetes:ref:refs/heads/trunk"
SCORE = """import json
import os

import mlflow.pyfunc
import pandas as pd


def init():
    global model
    model = mlflow.pyfunc.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model"))


def run(raw):
    data = json.loads(raw)["input_data"]
    frame = pd.DataFrame(data["data"], columns=data["columns"], index=data.get("index"))
    return [int(label) for label in model.predict(frame)]
"""

pytestmark = pytest.mark.act


def golden_project(folder: Path, azure, **model) -> Path:
    """The example project (a diabetes classifier) with the golden azureml config, pointed at the emulator
    (`model` changes the config's model settings)."""
    project = act.copy_files(ROOT / "example-project", folder)
    config = yaml.safe_load(GOLDEN.read_text())
    example = yaml.safe_load((ROOT / "example-project" / "mlops.yml").read_text())
    config.update(library=example["library"], project=example["project"], python=example["python"],
                  **{"smoke-test": {"request": "tests/sample-request.json", "requests": 5}})
    config["model"].update({key: example["model"][key] for key in ("train", "path", "metrics-file", "gate")},
                           **{"code-path": "serving", "scoring-script": "score.py"})
    config["model"].update(model)
    config["model"] = {key: value for key, value in config["model"].items() if value is not None}
    config["azure"].update({"subscription-id": azure.subscription, "resource-group": azure.resource_group,
                            "workspace": azure.workspace, "client-id": AZURE_CLIENT, "tenant-id": azure.tenant})
    config["monitor"]["training-data"] = "data/diabetes.csv"
    (project / "mlops.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project / "serving").mkdir()
    (project / "serving" / "score.py").write_text(SCORE)
    subprocess.run([sys.executable, "-m", "mlops_actions", "generate"], cwd=project, check=True,
                   capture_output=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    for command in (["init", "-q", "-b", "trunk"], ["add", "-A"], ["commit", "-qm", "project"]):
        subprocess.run([*git, *command], cwd=project, check=True)
    return project


def test_the_golden_azureml_config_trains_on_compute_and_deploys_a_custom_model_end_to_end(
        emulate, tmp_path, monkeypatch):
    azure = emulate(resource_group="rg-mlops", workspace="mlw-diabetes")
    azure.federate(AZURE_CLIENT, SUBJECT)
    azure.github_subject = SUBJECT
    monkeypatch.delenv("AZURE_CLIENT_SECRET")  # the actions sign in with GitHub's OIDC token, not a secret
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://pipelinesghubeus1.actions.githubusercontent.com/"
                       "abc/idtoken/def?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", azure.github_request_token)
    project = golden_project(tmp_path / "diabetes", azure)

    run = act.run("push", ".github/workflows/ci.yml", project, payload={"ref": "refs/heads/trunk"},
                  repositories={LIBRARY: ROOT}, timeout=1200)
    assert run.returncode == 0, run.output[-6000:]
    assert {name: job.result for name, job in run.jobs.items()} == {
        "Lint and unit tests": "succeeded", "Train and register the model": "succeeded",
        "CD/Deploy to staging": "succeeded", "CD/Deploy to production": "succeeded"}

    [job] = azure.jobs.values()  # trained on the compute cluster, from the uploaded project
    assert job["properties"]["status"] == "Completed" and job["properties"]["computeId"].endswith("/cpu-cluster")
    assert azure.github_tokens_issued > 0 and {t["proof"] for t in azure.tokens_issued} == {"client_assertion"}
    model = azure.models["diabetes-classifier"]["1"]["properties"]
    assert model["modelType"] == "custom_model" and model["modelUri"] == f"azureml://jobs/{job['name']}/outputs/model"
    assert "metric.accuracy" in model["tags"]  # the gate read the metrics the job wrote
    for endpoint in ("diabetes-stg", "diabetes-prd"):
        deployment = azure.deployments[(endpoint, "blue")]
        assert deployment["properties"]["codeConfiguration"]["scoringScript"] == "score.py"
        assert azure.servers[(endpoint, "blue")].state == "ready"  # score.py, served by Azure's inference server
        assert azure.traffic(endpoint) == {"blue": 100}
    assert {status for endpoint, _, status in azure.scored} == {200}
    assert azure.deployments[("diabetes-prd", "blue")]["properties"]["dataCollector"]["collections"]
    schedule = azure.schedules["diabetes-prd-monitor"]["properties"]["action"]["monitorDefinition"]
    assert schedule["monitoringTarget"]["deploymentId"].endswith("/onlineEndpoints/diabetes-prd/deployments/blue")

    # trained on the runner instead, the model folder is uploaded to the workspace's blob storage
    project = golden_project(tmp_path / "on-runner", azure, compute=None, **{"train-environment": None})
    run = act.run("push", ".github/workflows/ci.yml", project, payload={"ref": "refs/heads/trunk"},
                  repositories={LIBRARY: ROOT}, job="train", timeout=600)
    assert run.returncode == 0, run.output[-6000:]
    uploaded = azure.models["diabetes-classifier"]["2"]["properties"]["modelUri"]
    assert "/paths/LocalUpload/" in uploaded and uploaded.endswith("/model")
    container, prefix = azure.blob_location(uploaded)
    assert f"{prefix}/MLmodel" in {blob.name for blob in azure.storage.service().get_container_client(container)
                                   .list_blobs(name_starts_with=prefix)}
