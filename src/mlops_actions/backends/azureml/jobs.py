"""Training as an Azure ML command job."""

from __future__ import annotations

from pathlib import Path

from mlops_actions.backends.azureml.connection import translated
from mlops_actions.github import ActionError


class Jobs:
    poll_seconds = 15.0  # between two looks at a running job

    @translated("submitting the training job")
    def command_job(self, job_file: Path | None, command_line: str, environment: str, compute: str,
                    experiment: str, output: str):
        """Submit a command job (from a CLI v2 job YAML, or built from the inputs); nothing is submitted
        when the file is not a command job or the compute does not exist."""
        from azure.ai.ml import Output, command, load_job
        from azure.core.exceptions import ResourceNotFoundError

        if job_file:
            job = load_job(job_file)
            if job.type != "command":
                raise ActionError("Not a command job", f"{job_file} defines a {job.type} job; train submits "
                                  "command jobs (type: command). Fix: give a command job, or run a pipeline "
                                  "yourself.")
            job.command = command_line or job.command
            job.environment = environment or job.environment
            job.compute = compute or job.compute
        else:
            job = command(command=command_line, environment=environment, compute=compute,
                          outputs={output: Output(type="uri_folder")})
        job.experiment_name = job.experiment_name or experiment
        if job.compute:
            try:
                self.client.compute.get(job.compute)
            except ResourceNotFoundError:
                raise ActionError("Compute not found", f"compute {job.compute} does not exist in workspace "
                                  f"{self.workspace}; nothing was submitted. Fix: create it (mlops-actions setup "
                                  "shows how) or name an existing one.") from None
        return self.client.jobs.create_or_update(job)

    @translated("reading the training job")
    def get_job(self, name: str):
        return self.client.jobs.get(name)

    @translated("cancelling the training job")
    def cancel_job(self, name: str) -> None:
        self.client.jobs.begin_cancel(name).result()

    def job_error(self, name: str) -> str:
        """The error a failed job recorded, from its run history (empty when none can be read)."""
        try:
            details = self.client.jobs._runs_operations.get_run_details(name)  # the SDK's own (stream) route
            error = getattr(getattr(details, "error", None), "error", None)
            return f"{error.code}: {error.message}" if error and error.code else (getattr(error, "message", "") or "")
        except Exception:  # noqa: BLE001 - the error is a courtesy; the job's status decides
            return ""
