"""The train job: on the runner inside an MLflow run of the local store; on Azure ML as a command job,
against the loopback emulator."""

import json
import subprocess
import sys

import pytest

import models
from mlops_actions import github, train
from mlops_actions.backends import azureml
from mlops_actions.backends.local import LocalBackend
from mlops_actions.inputs import InputError, Inputs

SCRIPT = """import json, sys
sys.path.insert(0, {fixture!r})
import mlflow
from train import train
with mlflow.start_run():  # resumes the run the action opened
    mlflow.log_param("C", 1.0)
    metrics = train("out/model")
json.dump(metrics, open("out/metrics.json", "w"))
"""


def call(**flags):
    return train.run(Inputs.read(train.INPUTS, flags, environ={}))


@pytest.fixture
def project(runner, tmp_path):
    (runner.workspace / "train.py").write_text(SCRIPT.format(fixture=str(models.FIXTURE)))
    return runner.workspace


def test_on_the_runner_the_training_is_an_mlflow_run_of_the_local_store(project, runner, tmp_path):
    state = tmp_path / "state"
    assert call(command=f"{sys.executable} train.py", **{
        "model-output": "out/model", "metrics-file": "out/metrics.json", "experiment": "diabetes",
        "state-dir": str(state)}) == 0
    outputs = runner.outputs()
    assert outputs["model-path"] == str(project / "out" / "model") and (project / "out/model/MLmodel").is_file()
    client = LocalBackend(state).client
    run = client.get_run(outputs["run-id"])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"C": "1.0"}  # logged by the training script itself, into the same run
    assert run.data.metrics == json.loads((project / "out" / "metrics.json").read_text())
    assert client.get_experiment(run.info.experiment_id).name == "diabetes"
    assert "Trained on the runner" in runner.summary()


def test_a_failing_command_fails_the_step_and_the_run(project, runner, tmp_path):
    state = tmp_path / "state"
    with pytest.raises(github.ActionError, match="the training command exited with 3"):
        call(command="exit 3", **{"state-dir": str(state), "experiment": "failing"})
    client = LocalBackend(state).client
    [run] = client.search_runs([client.get_experiment_by_name("failing").experiment_id])
    assert run.info.status == "FAILED"


def test_a_model_the_training_did_not_write_is_an_error(project, runner, tmp_path):
    with pytest.raises(InputError, match="'model-output' is 'nowhere': not written by the training"):
        call(command="true", **{"model-output": "nowhere", "metrics-file": "", "state-dir": str(tmp_path / "s")})


def test_azure_inputs_with_the_local_backend_are_refused(project):
    with pytest.raises(InputError, match="'compute' is 'cpu-cluster': set with the local backend"):
        call(command="python train.py", compute="cpu-cluster")


@pytest.fixture
def azure(emulate, monkeypatch, runner):
    monkeypatch.setattr(azureml.AzureMLBackend, "poll_seconds", 0)
    return emulate()


def on_azure(emulator, **flags):
    return call(backend="azureml", **{"subscription-id": emulator.subscription, "resource-group": "rg",
                                      "workspace": "ws", **flags})


def test_a_command_job_runs_the_uploaded_working_directory_and_its_model_lands_in_the_output(
        azure, project, runner, capsys):
    (project / ".gitignore").write_text("local-secrets.txt\n")
    (project / "local-secrets.txt").write_text("not for Azure")
    assert on_azure(azure, command="python train.py", environment="azureml:sklearn:1", compute="cpu-cluster",
                    **{"model-output": "out/model", "metrics-file": "out/metrics.json"}) == 0
    outputs = runner.outputs()
    # the metrics come back to the runner, where register-model's gate reads them
    assert outputs["metrics-file"] == str(project / "out" / "metrics.json")
    assert set(json.loads((project / "out" / "metrics.json").read_text())) >= {"accuracy"}
    [name] = azure.jobs
    assert outputs["job-name"] == name and outputs["model-path"] == f"azureml://jobs/{name}/outputs/model"
    assert outputs["job-url"].startswith(f"https://ml.azure.com/runs/{name}")
    job = azure.jobs[name]["properties"]
    assert job["jobType"] == "Command" and job["command"].startswith("(\npython train.py\n) && ")
    assert job["computeId"].endswith("/computes/cpu-cluster")
    out = capsys.readouterr().out
    assert out.index(f"{name}: Queued") < out.index(f"{name}: Running") < out.index(f"{name}: Completed")
    storage = azure.storage.service()
    code = azure.code_of(job["codeId"])["properties"]["codeUri"]
    container, prefix = azure.blob_location(code)
    uploaded = {blob.name.removeprefix(prefix).lstrip("/") for blob in
                storage.get_container_client(container).list_blobs(name_starts_with=prefix)}
    assert "train.py" in uploaded and "local-secrets.txt" not in uploaded  # .gitignore respected
    written = {blob.name for blob in storage.get_container_client(azure.blob_container).list_blobs(
        name_starts_with=f"azureml/{name}/model/")}
    assert f"azureml/{name}/model/MLmodel" in written  # the model the command wrote, in the job's output


def test_a_command_that_writes_to_its_output_is_submitted_unchanged(azure, project, runner):
    command = "python train.py && cp -R out/model/. ${{outputs.model}}"
    assert on_azure(azure, command=command, environment="azureml:sklearn:1", compute="cpu-cluster",
                    **{"metrics-file": ""}) == 0
    [job] = azure.jobs.values()
    assert job["properties"]["command"] == command and job["properties"]["status"] == "Completed"


@pytest.mark.parametrize("ending", ["Failed", "Canceled", "Paused"])  # Paused ends the wait too
def test_a_failed_or_cancelled_job_fails_the_step(azure, project, runner, ending):
    azure.fail_job(ending)
    with pytest.raises(github.ActionError) as caught:
        on_azure(azure, command="python train.py", environment="azureml:sklearn:1", compute="cpu-cluster",
                 **{"timeout-minutes": "1"})  # a wait that missed the end would time out, not hang
    [name] = azure.jobs
    assert caught.value.title == f"Training job {ending.lower()}"
    assert f"Azure ML job {name} ended {ending}: UserError: Execution failed: train.py exited with 1" \
        in str(caught.value)  # the job's error, from its run history
    assert "model-path" not in runner.outputs()
    if ending == "Paused":  # stopped, not ended: cancelled, so that it costs nothing more
        assert azure.calls("POST", f"/jobs/{name}/cancel")


def test_a_job_file_that_is_not_a_command_or_pipeline_job_submits_nothing(azure, runner):
    (runner.workspace / "sweep.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntype: sweep\n"
        "trial:\n  command: python train.py\n  environment: azureml:sklearn:1\n")
    with pytest.raises(github.ActionError, match="defines a sweep job; train submits command and pipeline jobs"):
        on_azure(azure, **{"job-file": str(runner.workspace / "sweep.yml")})
    assert azure.calls("PUT") == []


def test_a_missing_compute_submits_nothing(azure, runner):
    with pytest.raises(github.ActionError, match="compute gpu-cluster does not exist in workspace ws; nothing"):
        on_azure(azure, command="python train.py", environment="azureml:sklearn:1", compute="gpu-cluster")
    assert azure.calls("PUT") == []


def test_a_command_job_file_is_the_base(azure, project, runner):
    (runner.workspace / "job.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ntype: command\n"
        "command: python train.py --epochs 1\nenvironment: azureml:sklearn:1\ncompute: azureml:cpu-cluster\n"
        "outputs:\n  model:\n    type: uri_folder\n")
    assert on_azure(azure, **{"job-file": str(runner.workspace / "job.yml"), "command": "python train.py --epochs 5",
                              "model-output": "out/model", "metrics-file": "out/metrics.json"}) == 0
    [job] = azure.jobs.values()
    assert job["properties"]["command"].startswith("(\npython train.py --epochs 5\n) && ")
    assert job["properties"]["status"] == "Completed"


def test_a_job_that_does_not_write_the_model_fails_saying_so(azure, project, runner):
    with pytest.raises(github.ActionError) as caught:
        on_azure(azure, command="python train.py", environment="azureml:sklearn:1", compute="cpu-cluster",
                 **{"model-output": "elsewhere/model", "metrics-file": ""})
    assert "mlops-actions: the training wrote nothing at elsewhere/model, where it is expected" in str(caught.value)


def test_a_command_with_a_comment_and_a_model_output_azure_would_not_name_still_train(azure, project, runner):
    command = "python train.py && cp -R out/model out/my-model  # a copy under another name"
    assert on_azure(azure, command=command, environment="azureml:sklearn:1", compute="cpu-cluster",
                    **{"model-output": "out/my-model", "metrics-file": ""}) == 0
    [name] = azure.jobs
    assert runner.outputs()["model-path"] == f"azureml://jobs/{name}/outputs/my_model"  # Azure's output names: \w
    written = {blob.name for blob in azure.storage.service().get_container_client(azure.blob_container).list_blobs(
        name_starts_with=f"azureml/{name}/my_model/")}
    assert f"azureml/{name}/my_model/MLmodel" in written


def test_the_checkouts_git_folder_never_goes_up_with_the_code(azure, project, runner):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    config = project / ".git" / "config"
    config.write_text(config.read_text() + '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic '
                      'eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA==\n')  # what persist-credentials leaves behind
    assert on_azure(azure, command="python train.py", environment="azureml:sklearn:1", compute="cpu-cluster",
                    **{"model-output": "out/model", "metrics-file": ""}) == 0
    [job] = azure.jobs.values()
    container, prefix = azure.blob_location(azure.code_of(job["properties"]["codeId"])["properties"]["codeUri"])
    uploaded = [blob.name for blob in azure.storage.service().get_container_client(container).list_blobs(
        name_starts_with=prefix)]
    assert any(name.endswith("train.py") for name in uploaded)
    assert not [name for name in uploaded if "/.git/" in f"/{name}"]


PIPELINE = """$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: diabetes-training
experiment_name: diabetes
settings:
  default_compute: azureml:cpu-cluster
outputs:
  trained_model:
    type: uri_folder
  metrics:
    type: uri_folder
jobs:  # the training step first: it runs second, after the step whose output it reads
  train_job:
    type: command
    code: .
    environment: azureml:sklearn:1
    inputs:
      training_data: ${{parent.jobs.prep_job.outputs.prep_data}}
    command: >-
      test -f ${{inputs.training_data}}/rows.txt &&
      cp ${{inputs.training_data}}/rows.txt ${{outputs.model_output}}/MLmodel &&
      echo '{"accuracy": 0.9}' > ${{outputs.metrics}}/metrics.json
    outputs:
      model_output: ${{parent.outputs.trained_model}}
      metrics: ${{parent.outputs.metrics}}
  prep_job:
    type: command
    code: .
    environment: azureml:sklearn:1
    command: >-
      python -c "import sys; open(sys.argv[1] + '/rows.txt', 'w').write('3')" ${{outputs.prep_data}}
    outputs:
      prep_data:
        mode: rw_mount
"""


def test_a_pipeline_job_file_runs_its_steps_in_order_and_its_named_output_is_the_model(azure, project, runner):
    (project / "pipeline.yml").write_text(PIPELINE)
    assert on_azure(azure, **{"job-file": "pipeline.yml", "job-output": "trained_model",
                              "metrics-file": "out/metrics.json"}) == 0
    [name] = azure.jobs
    job = azure.jobs[name]["properties"]
    assert job["jobType"] == "Pipeline" and job["status"] == "Completed"
    assert set(job["jobs"]) == {"prep_job", "train_job"}
    assert runner.outputs()["model-path"] == f"azureml://jobs/{name}/outputs/trained_model"
    written = {blob.name for blob in azure.storage.service().get_container_client(azure.blob_container).list_blobs(
        name_starts_with=f"azureml/{name}/trained_model/")}
    assert f"azureml/{name}/trained_model/MLmodel" in written
    assert json.loads((project / "out" / "metrics.json").read_text()) == {"accuracy": 0.9}  # back for the gate


def test_a_pipeline_without_the_named_output_submits_nothing(azure, project, runner):
    (project / "pipeline.yml").write_text(PIPELINE)
    with pytest.raises(github.ActionError, match=r"pipeline.yml declares no output 'model' \(its outputs: "
                       r"trained_model, metrics\); nothing was submitted. Fix: set job-output"):
        on_azure(azure, **{"job-file": "pipeline.yml", "model-output": "out/model"})
    assert azure.calls("PUT", "/jobs/") == []


def test_a_failing_pipeline_step_fails_the_step_naming_it(azure, project, runner):
    (project / "pipeline.yml").write_text(PIPELINE.replace("test -f", "test -d"))
    with pytest.raises(github.ActionError, match="ended Failed: UserError: Pipeline step train_job failed"):
        on_azure(azure, **{"job-file": "pipeline.yml", "job-output": "trained_model"})


def test_a_pipeline_without_a_metrics_output_trains_and_says_no_metrics_came_back(azure, project, runner, capsys):
    without = PIPELINE.replace("  metrics:\n    type: uri_folder\n", "").replace(
        "      metrics: ${{parent.outputs.metrics}}\n", "").replace(
        " &&\n      echo '{\"accuracy\": 0.9}' > ${{outputs.metrics}}/metrics.json", "")
    assert "metrics" not in without.split("jobs:")[0]
    (project / "pipeline.yml").write_text(without)
    assert on_azure(azure, **{"job-file": "pipeline.yml", "job-output": "trained_model"}) == 0
    assert "pipeline.yml declares no output 'metrics': no metrics file comes back from the job" in \
        capsys.readouterr().out
    assert runner.outputs()["metrics-file"] == ""
