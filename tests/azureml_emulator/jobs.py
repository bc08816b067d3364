"""Command jobs: a job runs the code it uploaded, and its named outputs hold what the command wrote.

Sources:
- The CLI v2 command job reference (learn.microsoft.com/azure/machine-learning/reference-yaml-job-command):
  `code` is the "Local path to the source code directory to be uploaded and used for the job"; "Outputs can
  be referenced in the command using the ${{ outputs.<output_name> }} expression", inputs likewise with
  ${{ inputs.<input_name> }}; limits.timeout: "When this limit is reached, the system cancels the job."
- Where an output with no path lands: azureml://datastores/workspaceblobstore/paths/azureml/<job name>/<output
  name>/ (learn.microsoft.com/azure/machine-learning/how-to-read-write-data-v2, "Write data").
- JobStatus in the REST spec (azure-ai-ml _restclient enums): NotStarted, Starting, Provisioning, Preparing,
  Queued, Running, Finalizing, CancelRequested, Completed, Failed, Canceled, NotResponding, Paused, Unknown;
  the terminal ones are Completed, Failed and Canceled (ARM's terminal states); Paused can be resumed.
- Recordings (command_job/...test_command_job_with_dataset_short_uri, ...register_output; dsl/... for
  cancel): PUT jobs/{name} is not long-running, 201 with a Location and status Starting; an unknown compute
  is a 400 "Unknown compute target '<name>'." (inner error UnknownTargetType); the default output is
  azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.<name>; a named output given no path keeps
  uri null; cancel answers 202 with only a Location (mfeOperationResults/jc:<workspace id>:<job>, timeout
  PT1H), polled 202 {} then 200 with no body.
- "For update case, the Tags in the definition passed in will replace Tags in the existing job." (REST spec,
  Jobs_CreateOrUpdate).
- Downloading an output (jobs.download): the run history's rundata answers runMetadata.outputs {name:
  {assetId, type}} (recording pipeline_job/...test_pipeline_job_download; azure-ai-ml's runhistory models,
  TypedAssetReference), and the data plane's dataversion/batchGetResolvedUris maps each asset ID to its
  {uri, type} (azure-ai-ml's dataset_dataplane models, BatchDataUriResponse); the files are then read from
  the datastore.

Pipeline jobs (jobType Pipeline; REST spec PipelineJob, azure-ai-ml _restclient: inputs, outputs, jobs,
settings; learn.microsoft.com/azure/machine-learning/reference-yaml-job-pipeline): each step runs as a command
of its own, in the order its inputs name other steps' outputs (${{parent.jobs.<step>.outputs.<output>}}) or
the pipeline's inputs (${{parent.inputs.<input>}}); a step output bound to ${{parent.outputs.<output>}} is
the pipeline's output, kept at azureml/<pipeline job>/<output>. The SDK sends each inline step as an
anonymous component (components/azureml_anonymous/versions/<hash>, with its command, code and outputs) that
the step's componentId names; the compute is settings.default_compute or the step's computeId. A step that
fails fails the pipeline (settings.continue_on_step_failure is not emulated), with the step named.

Not emulated: the job's environment (the command runs with the tests' Python), compute provisioning,
MLflow tracking to the workspace, and input modes other than a download.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from azure.ai.ml._restclient.arm_ml_service import models as rest

from azureml_emulator.arm import ARM, ArmError, bad_request, not_found, now
from azureml_emulator.assets import ASSET_NAME
from azureml_emulator.endpoints import seconds

PARENT = re.compile(r"^\$\{\{\s*parent\.(?:jobs\.(?P<step>[A-Za-z0-9_]+)\.outputs|(?P<kind>inputs|outputs))\."
                    r"(?P<name>[A-Za-z0-9_]+)\s*\}\}$")
EXPRESSION = re.compile(r"\$\{\{\s*(?P<kind>inputs|outputs)\.(?P<name>[A-Za-z0-9_]+)\s*\}\}")
BEFORE_RUNNING = ["Starting", "Preparing", "Queued"]
TERMINAL = ("Completed", "Failed", "Canceled")


class JobService:
    """The mixin of the emulator for jobs and their run history."""

    def _job_state(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}  # name -> {statuses, process, thread, error, folder}
        self.failing_jobs: dict[str, tuple[str, str, str]] = {}  # name or "*" -> (ending status, code, message)

    # -- what tests use ----------------------------------------------------------------------------

    def fail_job(self, status: str = "Failed", code: str = "UserError",
                 message: str = "Execution failed: train.py exited with 1", name: str = "*") -> None:
        """Make job `name` (every job, by default) end with `status` without running its command."""
        self.failing_jobs[name] = (status, code, message)

    def job_log(self, name: str) -> str:
        log = self.runs.get(name, {}).get("folder", Path("/nonexistent")) / "user_logs" / "std_log.txt"
        return log.read_text() if log.exists() else ""

    # -- jobs --------------------------------------------------------------------------------------

    def route_jobs(self, method, parts, query, body):
        if len(parts) < 2:
            raise not_found("route jobs")
        name = parts[1]
        if method == "PUT" and len(parts) == 2:
            return self.put_job(name, body)
        if name not in self.jobs:
            raise not_found(f"Job {name} not found in workspace {self.workspace}.", "JobNotFound")
        if method == "POST" and parts[2:] == ["cancel"]:
            return self.cancel_job(name)
        if method == "GET" and len(parts) == 2:
            self.advance(name)
            return 200, self.jobs[name], {}
        raise not_found(f"{method} jobs/{'/'.join(parts[1:])}")

    def put_job(self, name: str, body: dict):
        if not ASSET_NAME.match(name):
            raise bad_request(f"Job name '{name}' is invalid: it must match {ASSET_NAME.pattern}.")
        body = self.check(rest.JobBase, body, "job")
        properties = body["properties"]
        if name in self.jobs:  # an update replaces the tags, nothing else
            self.jobs[name]["properties"]["tags"] = properties.get("tags") or {}
            return 200, self.jobs[name], {}
        pipeline = properties.get("jobType") == "Pipeline"
        computes = [properties.get("computeId") or ""]
        if pipeline:
            computes += [str((properties.get("settings") or {}).get("default_compute") or "")]
            computes += [step.get("computeId") or "" for step in self.steps(properties).values()]
        for compute in computes:
            compute = compute.rstrip("/").rsplit("/", 1)[-1].removeprefix("azureml:")
            if compute and compute not in self.computes:
                raise ArmError(400, f"Unknown compute target '{compute}'.", inner="BadArgument")
        code = None if pipeline else self.code_of(properties.get("codeId") or "")
        outputs = {key: {"description": None, "uri": None, "assetName": None, "mode": "ReadWriteMount", **value}
                   for key, value in (properties.get("outputs") or {}).items()}
        outputs["default"] = {"description": None, "assetName": None, "mode": "ReadWriteMount",
                              "jobOutputType": "uri_folder",
                              "uri": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}"}
        studio = f"https://ml.azure.com/runs/{name}?wsid=/subscriptions/{self.subscription}/resourcegroups/" \
                 f"{self.resource_group}/workspaces/{self.workspace}"
        self.jobs[name] = {
            "id": f"{self.ws_id}/jobs/{name}", "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "systemData": {"createdAt": now(), "createdBy": "emulator", "createdByType": "User"},
            "properties": {**properties, "status": "Starting", "outputs": outputs, "parentJobName": None,
                           "services": {"Studio": {"jobServiceType": "Studio", "endpoint": studio},
                                        "Tracking": {"jobServiceType": "Tracking", "endpoint":
                                                     f"azureml://{self.location}.api.azureml.ms/mlflow/v1.0"
                                                     f"{self.ws_id}?"}}}}
        ending = self.failing_jobs.get(name) or self.failing_jobs.get("*")
        self.runs[name] = {"statuses": BEFORE_RUNNING[1:] + (["Running", ending[0]] if ending else ["Running"]),
                           "injected": ending, "code": code, "thread": None, "process": None, "error": None,
                           "folder": self.scratch / "jobs" / name}
        return 201, self.jobs[name], {"Location": f"{ARM}{self.ws_id}/jobs/{name}?api-version=2025-01-01-preview"}

    def advance(self, name: str) -> None:
        """A look at the job moves it one status on; it stays Running while its command runs."""
        run, properties = self.runs[name], self.jobs[name]["properties"]
        if properties["status"] in TERMINAL or properties["status"] == "Paused":
            return
        if properties["status"] == "Running" and not run["injected"]:
            if run["thread"] is None:
                run["thread"] = threading.Thread(target=self.execute, args=(name,), daemon=True)
                run["thread"].start()
            if run["thread"].is_alive():
                return
            properties["status"] = "Finalizing" if properties["status"] != "Canceled" else "Canceled"
            return
        if properties["status"] == "Finalizing":
            properties["status"] = "Failed" if run["error"] else "Completed"
            return
        if properties["status"] == "CancelRequested":
            properties["status"] = "Canceled"
            return
        if run["statuses"]:
            properties["status"] = run["statuses"].pop(0)
            if run["injected"] and properties["status"] == run["injected"][0]:
                run["error"] = {"code": run["injected"][1], "message": run["injected"][2]}

    def steps(self, properties: dict) -> dict[str, dict]:
        """A pipeline's steps, each with the component its componentId names (400 when there is none)."""
        steps = properties.get("jobs") or {}
        if not isinstance(steps, dict) or not steps:
            raise bad_request("A pipeline job needs at least one job in 'jobs'.")
        for step_name, step in steps.items():
            match = re.search(r"/components/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
                              str(step.get("componentId") or ""))
            if not match or f"components/{match['name']}:{match['version']}" not in self.environments:
                raise bad_request(f"Component {step.get('componentId')!r} of job {step_name} was not found in "
                                  f"workspace {self.workspace}.")
        return steps

    def workdir(self, code: dict | None, folder: Path) -> Path:
        """The job's uploaded code, downloaded into folder/snapshot (its one top folder, if it has one)."""
        (folder / "snapshot").mkdir(parents=True, exist_ok=True)
        workdir = folder / "snapshot"
        if code:
            copied = self.download(code["properties"]["codeUri"], workdir)
            top = {entry.split("/")[0] for entry in copied}
            if len(top) == 1 and (workdir / next(iter(top))).is_dir():
                workdir = workdir / next(iter(top))
        return workdir

    def execute(self, name: str) -> None:
        """Run the job's command in its uploaded code, with its outputs as folders, and keep what it wrote."""
        run, properties = self.runs[name], self.jobs[name]["properties"]
        if properties.get("jobType") == "Pipeline":
            return self.execute_pipeline(name)
        folder: Path = run["folder"]
        workdir = self.workdir(run["code"], folder)
        values = {}
        for key, spec in (properties.get("inputs") or {}).items():
            if spec.get("jobInputType") == "literal":
                values[("inputs", key)] = str(spec.get("value", ""))
            else:
                target = folder / "inputs" / key
                copied = self.download(spec.get("uri", ""), target)
                values[("inputs", key)] = str(target / copied[0]) if spec.get("jobInputType") == "uri_file" and \
                    copied else str(target / Path(spec.get("uri", "")).name)
        for key in properties.get("outputs") or {}:
            (folder / "outputs" / key).mkdir(parents=True, exist_ok=True)
            values[("outputs", key)] = str(folder / "outputs" / key)
        code = self.run_command(name, workdir, folder, properties.get("command", ""), values,
                                properties.get("environmentVariables") or {}, properties.get("limits") or {})
        if code and not run["error"] and properties["status"] not in ("CancelRequested", "Canceled"):
            last = (self.job_log(name).strip().splitlines() or [""])[-1]
            run["error"] = {"code": "UserError", "message": f"Execution failed. User process 'bash' exited with "
                            f"status code {code}. Please check log file 'user_logs/std_log.txt' for error "
                            f"details. Error: {last}"}
        self.keep(name, folder, properties.get("outputs") or {})

    def keep(self, name: str, folder: Path, outputs: dict) -> None:
        """The job's logs and named outputs, uploaded where Azure keeps them."""
        if self.storage:
            self.upload_folder(folder / "user_logs", self.artifact_container, f"ExperimentRun/dcid.{name}/user_logs")
            for key in outputs:
                if key != "default":
                    self.upload_folder(folder / "outputs" / key, self.blob_container, f"azureml/{name}/{key}")

    def execute_pipeline(self, name: str) -> None:
        """Each step in the order of what it reads, in a folder of its own, until one fails."""
        run, properties = self.runs[name], self.jobs[name]["properties"]
        folder: Path = run["folder"]
        steps, done = self.steps(properties), {}
        pipeline_inputs = {key: str(spec.get("value", spec.get("uri", ""))) for key, spec in
                           (properties.get("inputs") or {}).items()}
        while len(done) < len(steps):
            ready = [step for step, spec in steps.items() if step not in done and all(
                not (m := PARENT.match(str(value.get("value", "")))) or not m["step"] or m["step"] in done
                for value in (spec.get("inputs") or {}).values())]
            if not ready:
                run["error"] = {"code": "UserError", "message": "The pipeline's steps read each other's outputs in "
                                "a cycle."}
                return
            step = ready[0]
            spec = steps[step]
            match = re.search(r"/components/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", spec["componentId"])
            component = self.environments[f"components/{match['name']}:{match['version']}"]["properties"]
            component = component["componentSpec"]
            step_folder = folder / "steps" / step
            values: dict[tuple[str, str], str] = {}
            for key, value in (spec.get("inputs") or {}).items():
                bound = PARENT.match(str(value.get("value", "")))
                if bound and bound["step"]:
                    values[("inputs", key)] = done[bound["step"]][bound["name"]]
                elif bound and bound["kind"] == "inputs":
                    values[("inputs", key)] = pipeline_inputs.get(bound["name"], "")
                else:
                    values[("inputs", key)] = str(value.get("value", ""))
            outputs = {}
            for key in component.get("outputs") or {}:
                bound = PARENT.match(str(((spec.get("outputs") or {}).get(key) or {}).get("value", "")))
                target = folder / "outputs" / bound["name"] if bound and bound["kind"] == "outputs" else \
                    step_folder / "outputs" / key
                target.mkdir(parents=True, exist_ok=True)
                values[("outputs", key)] = outputs[key] = str(target)
            code = self.code_of(str(component.get("code") or "").removeprefix("azureml:"))
            returned = self.run_command(name, self.workdir(code, step_folder), step_folder,
                                        component.get("command", ""), values,
                                        component.get("environment_variables") or {}, properties.get("limits") or {})
            if returned:
                if not run["error"] and properties["status"] not in ("CancelRequested", "Canceled"):
                    run["error"] = {"code": "UserError", "message": f"Pipeline step {step} failed: its command "
                                    f"exited with {returned}."}
                break
            done[step] = outputs
        self.keep(name, folder, properties.get("outputs") or {})

    def run_command(self, name: str, workdir: Path, folder: Path, command: str, values: dict, variables: dict,
                    limits: dict) -> int:
        """Run a command with its ${{inputs.X}} and ${{outputs.X}} replaced; its log goes to the job's."""
        run = self.runs[name]
        command = EXPRESSION.sub(lambda m: values.get((m["kind"], m["name"]), m[0]), command)
        environment = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
                       "HOME": str(folder), "LANG": "C.UTF-8", "AZUREML_RUN_ID": name,
                       **variables}
        log_file = run["folder"] / "user_logs" / "std_log.txt"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        timeout = seconds(limits.get("timeout") or "PT1H")
        with open(log_file, "ab") as log:
            run["process"] = subprocess.Popen(["bash", "-c", command], cwd=workdir, env=environment, stdout=log,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                              start_new_session=True)
            try:
                code = run["process"].wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(run["process"].pid, 9)
                code = run["process"].wait()
                run["error"] = {"code": "JobTimeout", "message": f"The job exceeded its limit of {timeout:.0f} s "
                                "(limits.timeout) and was canceled."}
        return code

    def cancel_job(self, name: str):
        properties, run = self.jobs[name]["properties"], self.runs[name]
        if properties["status"] not in TERMINAL:
            properties["status"] = "CancelRequested"
            if run["process"] and run["process"].poll() is None:
                os.killpg(run["process"].pid, 9)

        def finish():
            self.advance(name)
            return None
        headers = self.start_operation("jc", ("job", name), "Canceling", finish, status_url=False, timeout="PT1H",
                                       op_id=f"jc:{self.workspace_guid}:{name}")
        return 202, b"null", headers

    def stop_jobs(self) -> None:
        for run in self.runs.values():
            if run["process"] and run["process"].poll() is None:
                os.killpg(run["process"].pid, 9)

    # -- run history -------------------------------------------------------------------------------

    def output_asset(self, name: str, output: str) -> str:
        return f"azureml://locations/{self.location}/workspaces/{self.workspace_guid}/data/" \
               f"azureml_{name}_output_data_{output}/versions/1"

    def resolved_uris(self, body):
        """dataversion/batchGetResolvedUris: where each output asset's files are."""
        found = {}
        for asset in (body or {}).get("values") or []:
            match = re.search(r"/data/azureml_(?P<job>.+)_output_data_(?P<output>[^/]+)/versions/1$", asset)
            if match and match["job"] in self.jobs:
                found[asset] = {"type": "uri_folder", "uri": f"azureml://subscriptions/{self.subscription}/"
                                f"resourcegroups/{self.resource_group}/workspaces/{self.workspace}/datastores/"
                                f"workspaceblobstore/paths/azureml/{match['job']}/{match['output']}/"}
        return 200, {"values": found}, {}

    def run_history(self, method: str, path: str, body):
        """The run history service: a run's details (with the error a failed job recorded) and its data."""
        if method == "POST" and path.endswith("/rundata"):
            name = (body or {}).get("runId", "")
            if name not in self.jobs:
                raise not_found(f"Run {name} not found.")
            outputs = {key: {"assetId": self.output_asset(name, key), "type": "uri_folder"}
                       for key in self.jobs[name]["properties"]["outputs"] if key != "default"}
            return 200, {"runMetadata": {"runId": name, "status": self.jobs[name]["properties"]["status"],
                                         "outputs": outputs}}, {}
        match = re.search(r"/runs/(?P<run>[^/]+)/details$", path)
        if not match or match["run"] not in self.jobs:
            raise not_found(f"Run {match['run'] if match else path} not found.")
        name = match["run"]
        status = self.jobs[name]["properties"]["status"]
        run = self.runs[name]
        error = run["error"]
        return 200, {"runId": name, "status": status, **({"error": {"error": error}} if error else {})}, {}
