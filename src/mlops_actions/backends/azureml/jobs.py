"""Training as an Azure ML command job: the working directory uploaded as the job's code (never `.git`,
which holds the checkout's history and, unless persist-credentials is false, its token), and the model the
command writes routed into the job's named output (Azure ML keeps only what a command writes to
${{outputs.<name>}})."""

from __future__ import annotations

import re
import shlex
import tempfile
from pathlib import Path

from mlops_actions.files import copy_files

from mlops_actions.backends.azureml.connection import Connection, translated
from mlops_actions.github import ActionError


METRICS_OUTPUT = "metrics"  # the job's output that carries the metrics file back to the runner
RESERVED_OUTPUTS = {METRICS_OUTPUT, "default"}  # "default" is the job's own artifacts


def output_name(model_output: str) -> str:
    """The job output that holds the model: model-output's last part as Azure ML allows output names
    (letters, digits and underscores), never one the job uses for something else."""
    name = re.sub(r"\W", "_", Path(model_output).name).strip("_")
    return name if name and name not in RESERVED_OUTPUTS and not name[0].isdigit() else "model"


class Jobs(Connection):
    poll_seconds = 15.0  # between two looks at a running job

    # Paused is not a success, and nobody resumes a CI job: it ends the wait like the terminal states
    FINISHED = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})

    @translated("submitting the training job")
    def command_job(self, job_file: Path | None, command_line: str, environment: str, compute: str,
                    experiment: str, model_output: str, code: Path, metrics_file: str = "", job_output: str = ""):
        """Submit a command job (from a CLI v2 job YAML, or built from the inputs) whose code is `code` (the
        SDK uploads it, leaving out what .amlignore or else .gitignore lists) unless the file names its own.
        What the command writes at model_output lands in the output named after its last part, and the
        metrics file in the output `metrics`. Nothing is submitted when the file is not a command job or the
        compute does not exist. A pipeline job file is submitted as pipeline_job does."""
        from azure.ai.ml import Output, command, load_job
        from azure.ai.ml.entities import Command

        job_output = job_output or output_name(model_output)
        routes = {job_output: model_output, **({METRICS_OUTPUT: metrics_file} if metrics_file else {})}
        if job_file:
            import yaml

            written = yaml.safe_load(job_file.read_text()) or {}
            outputs = {**{output: {"type": "uri_folder"} for output in routes}, **(written.get("outputs") or {})}
            if written.get("type", "command") not in ("command", "pipeline"):
                raise ActionError("Not a command or pipeline job", f"{job_file} defines a {written.get('type')} "
                                  "job; train submits command and pipeline jobs (type: command or pipeline). Fix: "
                                  "give one of those.")
            if written.get("type") == "pipeline":
                return self.pipeline_job(job_file, written, compute, experiment, job_output, bool(metrics_file))
            job = load_job(job_file, params_override=[{"outputs": outputs}])
            assert isinstance(job, Command), "a command job loads as a Command"
            assert job.command is not None, "load_job refuses a command job without a command"
            job.command = routed(command_line or job.command, routes)
            job.environment = environment or job.environment
            job.compute = compute or job.compute
        else:
            job = command(command=routed(command_line, routes), environment=environment, compute=compute,
                          outputs={output: Output(type="uri_folder") for output in routes})
        job.experiment_name = job.experiment_name or experiment
        if job.compute:
            self.require_compute(job.compute)
        if job.code:  # the job file's own code folder, as it names it
            return self.client.jobs.create_or_update(job)
        with tempfile.TemporaryDirectory(prefix="mlops-actions-code-") as staged:
            job.code = str(copy_files(code, Path(staged)))
            return self.client.jobs.create_or_update(job)

    def pipeline_job(self, job_file: Path, written: dict, compute: str, experiment: str, model_output: str,
                     metrics: bool):
        """Submit a pipeline job as its file writes it (each step's code is the folder it names), on `compute`
        when given (settings.default_compute). The model is its output `model_output`, which the file must
        declare; the metrics come back from its output `metrics` when it declares one."""
        from azure.ai.ml import load_job
        from azure.ai.ml.entities import PipelineJob

        declared = written.get("outputs") or {}
        if model_output not in declared:
            raise ActionError("No such pipeline output", f"{job_file} declares no output {model_output!r} (its "
                              f"outputs: {', '.join(declared) or 'none'}); nothing was submitted. Fix: set "
                              "job-output to the pipeline output that holds the model, and bind the training "
                              "step's model output to it (${{parent.outputs.<name>}}).")
        if metrics and METRICS_OUTPUT not in declared:
            print(f"{job_file} declares no output {METRICS_OUTPUT!r}: no metrics file comes back from the job",
                  flush=True)
        job = load_job(job_file, params_override=[{"settings.default_compute": compute}] if compute else [])
        assert isinstance(job, PipelineJob), "a pipeline job loads as a PipelineJob"
        job.experiment_name = job.experiment_name or experiment
        default = getattr(job.settings, "default_compute", None) if job.settings else None
        for name in {str(default or "").removeprefix("azureml:"), *(
                str(getattr(step, "compute", "") or "").removeprefix("azureml:") for step in job.jobs.values())} - {""}:
            if name.startswith("${{"):
                continue
            self.require_compute(name)
        return self.client.jobs.create_or_update(job)

    def require_compute(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.client.compute.get(name)
        except ResourceNotFoundError:
            raise ActionError("Compute not found", f"compute {name} does not exist in workspace {self.workspace}; "
                              "nothing was submitted. Fix: create it (mlops-actions setup shows how) or name an "
                              "existing one.") from None

    @translated("downloading the job's output")
    def download_output(self, name: str, output: str, into: Path) -> Path:
        """Download a finished job's named output (jobs.download); returns the folder that holds its files."""
        self.client.jobs.download(name, download_path=str(into), output_name=output)
        return into / "named-outputs" / output

    @translated("reading the compute cluster")
    def compute_type(self, name: str) -> str | None:
        """The compute's type, or None when the workspace has no compute of that name."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.compute.get(name).type
        except ResourceNotFoundError:
            return None

    @translated("creating the compute cluster")
    def create_compute(self, name: str, size: str) -> None:
        """A cluster of 0-2 nodes of `size` (it costs nothing while idle)."""
        from azure.ai.ml.entities import AmlCompute

        self._wait(self.client.compute.begin_create_or_update(AmlCompute(name=name, size=size, min_instances=0,
                                                                         max_instances=2)), f"Compute {name}")

    @translated("reading the workspace")
    def workspace_resource(self):
        """The workspace, or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.workspaces.get(self.workspace)
        except ResourceNotFoundError:
            return None

    @translated("reading the training job")
    def get_job(self, name: str):
        return self.client.jobs.get(name)

    @translated("cancelling the training job")
    def cancel_job(self, name: str) -> None:
        self.client.jobs.begin_cancel(name).result()

    def job_error(self, name: str) -> str:
        """The error a failed job recorded, from its run history (the SDK's own route for jobs.stream, a
        private one: when a later SDK drops it, the error says where to look instead)."""
        runs = getattr(self.client.jobs, "_runs_operations", None)
        if runs is None or not hasattr(runs, "get_run_details"):
            return "(this azure-ai-ml cannot read the run history; the job's page has the error)"
        try:
            details = runs.get_run_details(name)
        except Exception as exc:  # noqa: BLE001 - the error is a courtesy; the job's status decides
            return f"(its run history could not be read: {type(exc).__name__})"
        error = getattr(getattr(details, "error", None), "error", None)
        return f"{error.code}: {error.message}" if error and error.code else (getattr(error, "message", "") or "")


def routed(command_line: str, routes: dict[str, str]) -> str:
    """The command (in a subshell of its own lines, so that a trailing comment or a heredoc stays its own),
    then a copy of what it wrote at each path into its ${{outputs.<name>}}; an output the command writes
    itself is left to it."""
    copies = []
    for output, source in routes.items():
        if re.search(r"\$\{\{\s*outputs\." + re.escape(output) + r"\s*\}\}", command_line):
            continue
        target, quoted = "${{outputs.%s}}" % output, shlex.quote(f"./{source}")
        missing = shlex.quote(f"mlops-actions: the training wrote nothing at {source}, where it is expected")
        copies.append(f"{{ [ -e {quoted} ] || {{ echo {missing} >&2; exit 1; }}; }} && mkdir -p \"{target}\" && "
                      f"if [ -d {quoted} ]; then cp -R {quoted}/. \"{target}/\"; else cp {quoted} \"{target}/\"; fi")
    return " && ".join([f"(\n{command_line}\n)", *copies]) if copies else command_line
