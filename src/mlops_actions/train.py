"""The train job: the project's training, on the runner or as an Azure ML command job.

On the runner (the default, for small models and the local backend) the command runs in an MLflow run
of the same store the local registry uses: its metrics file is logged, and a training script that calls
mlflow.start_run() logs into that run. On Azure ML (backend azureml with compute or job-file) a command
job, or the pipeline job a job-file writes, is submitted and followed until it ends; a failed or cancelled
job fails the step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from mlops_actions import backends, environment, github, paths
from mlops_actions.backends.azureml.jobs import METRICS_OUTPUT, RESERVED_OUTPUTS, output_name
from mlops_actions.inputs import Input, Inputs
from mlops_actions.registration import runner_tags

OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")  # Azure ML's output names (the CLI v2 job schemas)
MAX_JOB_MINUTES = 30 * 24 * 60  # an Azure ML job's longest run (resource-limits-capacity: 30 days)

INPUTS = [
    Input("command", "The training command, run from working-directory (on the runner with bash; on Azure ML "
          "as the command job's command). Empty with job-file: the file's."),
    Input("working-directory", "Folder to run the training in, relative to the repository root.", "."),
    Input("model-output", "Where the training writes the model. On Azure ML its last part names the job's "
          "output that holds it ('model' for outputs/model; other characters than letters, digits and '_' become "
          "'_').", "outputs/model"),
    Input("metrics-file", "Where the training writes its metrics (JSON); logged to the run. Empty: none.",
          "outputs/metrics.json"),
    Input("experiment", "The experiment the run belongs to. Empty: the repository's name."),
    Input("compute", "azureml backend: the compute cluster to run on as a command job. Empty (and no "
          "job-file): train on the runner."),
    Input("job-file", "azureml backend: an Azure ML CLI v2 command job YAML to submit (inputs override it), or a "
          "pipeline job YAML (type: pipeline; compute, if given, becomes its settings.default_compute)."),
    Input("job-output", "azureml backend: the job output that holds the model; a pipeline job-file must declare "
          "it (a step binds its model output to the pipeline output of that name). Empty: the name model-output's "
          "last part gives. A pipeline's metrics come back from its output 'metrics', when it declares one."),
    Input("environment", "azureml backend: the job's environment, e.g. azureml:sklearn-env:2."),
    Input("timeout-minutes", "azureml backend: how long to wait for the job; it is cancelled after that.", "120"),
    *backends.INPUTS,
]
OUTPUTS = {
    "model-path": "The trained model: a folder on the runner, or azureml://jobs/<job>/outputs/<output> on Azure ML.",
    "metrics-file": "The metrics file (on the runner).",
    "run-id": "The MLflow run (local backend) or Azure ML job the training ran as.",
    "job-name": "azureml backend: the job's name.",
    "job-url": "azureml backend: the job in Azure ML studio.",
}


MAX_EXPERIMENT_NAME = 500  # MLflow's MAX_EXPERIMENT_NAME_LENGTH (mlflow/utils/validation.py)


def experiment_name(inputs: Inputs) -> str:
    if len(inputs["experiment"]) > MAX_EXPERIMENT_NAME:
        raise inputs.error("experiment", f"longer than {MAX_EXPERIMENT_NAME} characters", "give a shorter name")
    return inputs["experiment"] or os.environ.get("GITHUB_REPOSITORY", "").rsplit("/", 1)[-1] or "mlops-actions"


def metrics_of(path: Path) -> dict[str, float]:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {key: value for key, value in metrics.items() if isinstance(value, (int, float))} \
        if isinstance(metrics, dict) else {}


def on_runner(inputs: Inputs, base: Path) -> dict[str, str]:
    """Run the command in an MLflow run of the local store (local backend), or bare (azureml)."""
    command = inputs["command"]
    if not command:
        raise inputs.error("command", "empty", "give the training command, e.g. 'python train.py'")
    if not inputs["model-output"]:  # checked before the training runs, as is the path below
        raise inputs.error("model-output", "empty", "give where the training saves the model, e.g. outputs/model")
    inputs.path("model-output", base)
    metrics_file = base / inputs["metrics-file"] if inputs["metrics-file"] else None
    env, run, client = dict(os.environ), None, None
    if inputs["backend"] == "local":
        environment.require("local")
        from mlops_actions.backends.local import LocalBackend

        backend = LocalBackend(backends.state_dir(inputs))
        client = backend.client
        name = experiment_name(inputs)
        found = client.get_experiment_by_name(name)
        experiment = found.experiment_id if found else client.create_experiment(
            name, artifact_location=(backend.state / "artifacts" / name).as_uri())
        run = client.create_run(experiment, tags={**runner_tags(), "mlops-actions.command": command})
        env.update(MLFLOW_TRACKING_URI=backend.tracking_uri, MLFLOW_RUN_ID=run.info.run_id,
                   MLFLOW_EXPERIMENT_ID=experiment, MLFLOW_DISABLE_TELEMETRY="true")
    with github.group(f"Training: {command}"):
        with github.untrusted_output():
            returncode = subprocess.run(["bash", "-c", command], cwd=base, env=env).returncode
    metrics = metrics_of(metrics_file) if metrics_file else {}
    if client and run is not None:  # set together
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id, "FINISHED" if returncode == 0 else "FAILED")
    if returncode != 0:
        raise github.ActionError("Training failed", f"the training command exited with {returncode} (see the log "
                                 "above); nothing was registered.")
    model = inputs.path("model-output", base)
    if not model.exists():
        raise inputs.error("model-output", "not written by the training", "point it at where the training "
                           "saves the model")
    if metrics_file and not metrics_file.is_file():
        raise inputs.error("metrics-file", "not written by the training", "point it at the metrics the training "
                           "writes, or leave it empty")
    github.add_summary("### 🏋️ Trained on the runner\n\n" + github.markdown_table(
        ["Metric", "Value"], [[key, value] for key, value in metrics.items()]) if metrics else
        "### 🏋️ Trained on the runner")
    return {"model-path": str(model), "metrics-file": str(metrics_file or ""),
            "run-id": run.info.run_id if run else "", "job-name": "", "job-url": ""}


def status_of(job) -> str:
    return str(getattr(job.status, "value", job.status))  # the SDK's JobStatus, or a plain string


def on_azureml(inputs: Inputs, base: Path, timeout: int) -> dict[str, str]:
    """Submit a command job, follow it until it ends (or `timeout` seconds), and fail when it did not complete."""
    environment.require("azureml")
    backend = backends.connect_azureml(inputs)  # inputs["backend"] is azureml (run)
    job_file = inputs.optional_file("job-file", base)
    if not job_file and not (inputs["command"] and inputs["environment"]):
        raise inputs.error("environment" if inputs["command"] else "command", "empty",
                           "give command and environment (or a job-file) for an Azure ML command job")
    model_output = inputs.relative_path("model-output")
    output = inputs["job-output"] or output_name(model_output)  # the job's output that holds the model
    if not OUTPUT_NAME.match(output) or output in RESERVED_OUTPUTS:
        raise inputs.error("job-output", "not a job output name this job can use", "give letters, digits and "
                           f"underscores, starting with a letter, other than {', '.join(sorted(RESERVED_OUTPUTS))}")
    metrics = inputs.relative_path("metrics-file") if inputs["metrics-file"] else ""
    job = backend.command_job(job_file, inputs["command"], inputs["environment"], inputs["compute"],
                              experiment_name(inputs), model_output, base, metrics, output)
    if job.type == "pipeline" and METRICS_OUTPUT not in (job.outputs or {}):
        metrics = ""  # said when it was submitted
    with github.group(f"Azure ML job {job.name}: {job.studio_url}"):
        status, started, last = status_of(job), time.monotonic(), None
        while status not in backend.FINISHED:
            if status != last:
                print(f"{time.strftime('%H:%M:%S')} {job.name}: {status}", flush=True)
                last = status
            if time.monotonic() - started > timeout:
                backend.cancel_job(job.name)
                raise github.ActionError("Training timed out", f"job {job.name} was still {status} after "
                                         f"{timeout // 60} minutes and was cancelled: {job.studio_url}")
            time.sleep(backend.poll_seconds)
            job = backend.get_job(job.name)
            status = status_of(job)
        print(f"{time.strftime('%H:%M:%S')} {job.name}: {status}", flush=True)
    if status in ("Paused", "NotResponding"):  # stopped, not ended: it would go on costing compute
        backend.cancel_job(job.name)
    if status != "Completed":
        raise github.ActionError(f"Training job {status.lower()}", f"Azure ML job {job.name} ended {status}: "
                                 f"{backend.job_error(job.name) or 'no error was recorded'}. Logs: {job.studio_url}")
    model = f"azureml://jobs/{job.name}/outputs/{output}"
    values = metrics_back(backend, job.name, base / metrics) if metrics else {}
    github.add_summary(f"### 🏋️ Trained as Azure ML job [`{job.name}`]({job.studio_url})\n\nModel: `{model}`"
                       + ("\n\n" + github.markdown_table(["Metric", "Value"], [[k, v] for k, v in values.items()])
                          if values else ""))
    return {"model-path": model, "metrics-file": str(base / metrics) if metrics else "", "run-id": job.name,
            "job-name": job.name, "job-url": job.studio_url or ""}


def metrics_back(backend, job: str, target: Path) -> dict[str, float]:
    """Download the job's metrics file to where the training wrote it (for register-model's gate)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        folder = backend.download_output(job, METRICS_OUTPUT, Path(scratch))
        found = folder / target.name if (folder / target.name).is_file() else None
        if found is None:
            raise github.ActionError("Metrics not written", f"job {job} wrote no {target.name} (metrics-file); "
                                     "nothing was registered. Fix: point metrics-file at the JSON the training "
                                     "writes, or leave it empty.")
        paths.make_folder("metrics-file", str(target), target.parent)
        paths.writable("metrics-file", str(target), target)
        shutil.copyfile(found, target)
    return metrics_of(target)


def run(inputs: Inputs) -> int:
    base = inputs.directory("working-directory")
    timeout = int(inputs.defaulted_number("timeout-minutes", low=1, high=MAX_JOB_MINUTES, integer=True)) * 60
    on_azure = inputs["backend"] == "azureml" and bool(inputs["compute"] or inputs["job-file"])
    if not on_azure and (inputs["compute"] or inputs["job-file"]):
        raise inputs.error("compute" if inputs["compute"] else "job-file", "set with the local backend",
                           "set backend to azureml to train on Azure ML, or leave it empty to train on the runner")
    github.set_outputs(on_azureml(inputs, base, timeout) if on_azure else on_runner(inputs, base))
    return 0
