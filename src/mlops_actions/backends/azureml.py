"""The azureml backend: an Azure Machine Learning workspace, through azure-ai-ml (the SDK, unchanged).

Sign-in is DefaultAzureCredential, so it works after azure/login with OIDC (the Azure CLI's session)
and with workload-identity variables alike.

For tests, MLOPS_ACTIONS_AZUREML_EMULATOR=http://127.0.0.1:PORT sends every request the SDK, the
credential and the smoke test make to a loopback emulator of Azure (Azure ML, Entra ID, Graph) instead:
an azure-core transport rewrites the https URLs. Nothing else changes: the credential signs in to the
emulator's Entra ID as it would to Azure's.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlops_actions.backends import CONTENT_HASH_TAG, DeploymentSpec, Endpoint, ModelVersion
from mlops_actions.github import ActionError

EMULATOR = "MLOPS_ACTIONS_AZUREML_EMULATOR"


def emulator_transport(base_url: str):
    """An azure-core transport that sends https requests to `base_url` (a loopback emulator), keeping the
    original host in X-Original-Host, and restores the request's URL after sending (an LRO's final GET
    reuses it). Retries and polls do not wait."""
    from azure.core.pipeline.transport import RequestsTransport

    target = urlsplit(base_url)

    class EmulatorTransport(RequestsTransport):
        def send(self, request, **kwargs):
            original = request.url
            parts = urlsplit(original)
            request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
            request.headers["X-Original-Host"] = parts.netloc
            try:
                return super().send(request, **kwargs)
            finally:
                request.url = original

        def sleep(self, duration):
            pass

    return EmulatorTransport()


def failure(exc) -> str:
    """What an azure-core error says, in one line."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return f"{code}: {message}" if code else " ".join(lines[:3])


def translated(what: str):
    """Turn the SDK's errors escaping a backend method into one clear ActionError each."""
    def wrap(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
            from marshmallow.exceptions import ValidationError

            try:
                return method(self, *args, **kwargs)
            except ClientAuthenticationError as exc:
                raise ActionError("Azure sign-in failed", f"{what}: {failure(exc)}. Fix: sign in before this step "
                                  "with azure/login (client-id, tenant-id, subscription-id; the job needs "
                                  "id-token: write).") from None
            except HttpResponseError as exc:
                hint = " Fix: give the workflow's identity a role on the workspace (AzureML Data Scientist)." \
                    if exc.status_code in (401, 403) else ""
                raise ActionError(f"Azure ML refused: {what}", f"{what}: {failure(exc)}.{hint}") from None
            except (AzureError, ValidationError) as exc:
                raise ActionError(f"{what} failed", f"{what}: {failure(exc)}") from None
        return call
    return wrap


class AzureMLBackend:
    name = "azureml"

    def __init__(self, subscription: str, resource_group: str, workspace: str):
        from azure.ai.ml import MLClient

        from azure.core.pipeline.transport import RequestsTransport
        from azure.identity import DefaultAzureCredential

        emulator = os.environ.get(EMULATOR)
        if emulator:
            print(f"azureml backend: using the Azure ML emulator at {emulator} ({EMULATOR})", file=sys.stderr)
        self.transport = emulator_transport(emulator) if emulator else RequestsTransport()
        credential = DefaultAzureCredential(transport=self.transport)
        self.workspace, self.credential = workspace, credential
        self.client = MLClient(credential, subscription, resource_group, workspace, transport=self.transport,
                               enable_telemetry=False, show_progress=False)
        self._scoring_uris: dict[str, str] = {}

    # -- the registry ------------------------------------------------------------------------------

    def _version(self, model) -> ModelVersion:
        return ModelVersion(model.name, str(model.version), f"azureml:{model.name}:{model.version}",
                            model.type or "mlflow_model", dict(model.tags or {}), str(model.path or ""))

    @translated("listing the model's versions")
    def find_model(self, name: str, content_hash: str) -> ModelVersion | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            versions = list(self.client.models.list(name=name))
        except ResourceNotFoundError:
            return None
        same = [m for m in versions if (m.tags or {}).get(CONTENT_HASH_TAG) == content_hash]
        return self._version(min(same, key=lambda m: int(m.version))) if same else None

    @translated("registering the model")
    def register_model(self, name: str, path, model_type: str, description: str, tags: dict[str, str],
                       properties: dict[str, str], content_hash: str) -> tuple[ModelVersion, bool]:
        """Register a version; returns it and True (new). Two runs registering the same files at the same
        moment can both create a version: the workspace has no lock to take."""
        from azure.ai.ml.entities import Model
        from azure.core.exceptions import HttpResponseError

        model = Model(name=name, path=str(path), type=model_type, description=description or None,
                      tags={**tags, CONTENT_HASH_TAG: content_hash}, properties=properties)
        try:
            return self._version(self.client.models.create_or_update(model)), True
        except HttpResponseError as exc:
            raise ActionError("Registration failed", f"Azure ML refused model {name}: {failure(exc)}") from None

    @translated("reading the model")
    def get_model(self, name: str, version: str) -> ModelVersion:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self.client.models.get(name, label="latest") if version == "latest" else \
                self.client.models.get(name, version=version)
        except ResourceNotFoundError:
            raise ActionError("Model not found", f"model {name} version {version} is not in workspace "
                              f"{self.workspace}. Fix: register it first with register-model, or give an existing "
                              "model-version.") from None
        return self._version(found)

    # -- endpoints ---------------------------------------------------------------------------------

    @translated("reading the endpoint")
    def get_endpoint(self, name: str) -> Endpoint | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            endpoint = self.client.online_endpoints.get(name)
            deployments = {d.name: str(d.model or "") for d in self.client.online_deployments.list(name)}
        except ResourceNotFoundError:
            return None
        self._scoring_uris[name] = endpoint.scoring_uri
        traffic = {name: 0 for name in deployments} | {k: int(v) for k, v in (endpoint.traffic or {}).items()}
        return Endpoint(name, endpoint.scoring_uri or "", traffic, deployments)

    def _wait(self, poller, what: str):
        from azure.core.exceptions import HttpResponseError

        try:
            return poller.result()
        except HttpResponseError as exc:
            raise ActionError(f"{what} failed", f"{what} failed on Azure ML: {failure(exc)}") from None

    @translated("creating or updating the endpoint")
    def ensure_endpoint(self, name: str, spec_file: Path | None = None) -> Endpoint:
        """Create the endpoint if it does not exist; with a spec file, update it (its traffic is kept)."""
        from azure.ai.ml import load_online_endpoint
        from azure.ai.ml.entities import ManagedOnlineEndpoint

        existing = self.get_endpoint(name)
        if existing and not spec_file:
            return existing
        endpoint = load_online_endpoint(spec_file, params_override=[{"name": name}]) if spec_file else \
            ManagedOnlineEndpoint(name=name, auth_mode="key")
        if existing:
            endpoint.traffic = {k: v for k, v in existing.traffic.items() if v}
        self._wait(self.client.online_endpoints.begin_create_or_update(endpoint), f"Endpoint {name}")
        return self.get_endpoint(name)

    @translated("creating the deployment")
    def create_deployment(self, spec: DeploymentSpec) -> None:
        """Create the deployment at 0% traffic; a failed one is deleted, traffic is never touched."""
        from azure.ai.ml import load_online_deployment
        from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment

        settings = {"name": spec.name, "endpoint_name": spec.endpoint, "model": spec.model.uri,
                    "instance_type": spec.instance_type, "instance_count": spec.instance_count}
        # the inputs override the file before the SDK validates it (it may leave them to the inputs)
        deployment = load_online_deployment(spec.deployment_file, params_override=[settings]) \
            if spec.deployment_file else ManagedOnlineDeployment(**settings)
        if spec.code_path:
            deployment.code_configuration = CodeConfiguration(code=str(spec.code_path),
                                                              scoring_script=spec.scoring_script)
        if spec.environment:
            deployment.environment = spec.environment
        if spec.collect_data:  # the model's inputs and outputs, for the model monitor
            from azure.ai.ml.entities import DataCollector, DeploymentCollection

            deployment.data_collector = DataCollector(collections={
                "model_inputs": DeploymentCollection(enabled="true"),
                "model_outputs": DeploymentCollection(enabled="true")})
        try:
            self._wait(self.client.online_deployments.begin_create_or_update(deployment),
                       f"Deployment {spec.endpoint}/{spec.name}")
        except ActionError as exc:
            cleaned = self._delete_quietly(spec.endpoint, spec.name)
            raise ActionError(exc.title, f"{exc} Traffic is unchanged; the failed deployment "
                              f"{'was deleted' if cleaned else 'could not be deleted: delete it by hand'}.") from None

    def _delete_quietly(self, endpoint: str, name: str) -> bool:
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.online_deployments.begin_delete(name=name, endpoint_name=endpoint).result()
            return True
        except HttpResponseError:
            return False

    @translated("updating traffic")
    def set_traffic(self, endpoint: str, traffic: dict[str, int]) -> None:
        """Replace the endpoint's traffic split (the service drops 0% entries: it is a full replacement)."""
        found = self.client.online_endpoints.get(endpoint)
        found.traffic = {name: share for name, share in traffic.items() if share}
        self._wait(self.client.online_endpoints.begin_create_or_update(found), f"Traffic update of {endpoint}")

    @translated("deleting the deployment")
    def delete_deployment(self, endpoint: str, name: str) -> None:
        self._wait(self.client.online_deployments.begin_delete(name=name, endpoint_name=endpoint),
                   f"Deleting {endpoint}/{name}")

    # -- training ----------------------------------------------------------------------------------

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

    # -- the workflow's identity --------------------------------------------------------------------

    # built-in roles that can register models and manage online endpoints on a workspace
    WORKSPACE_ROLES = {"f6c7c914-8db3-469d-8ca1-694a8f32e121": "AzureML Data Scientist",
                       "b24988ac-6210-4c4c-b5ce-ef9fd3e8101f": "Contributor",
                       "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner"}

    def _get(self, url: str, scope: str) -> dict:
        """A GET to Microsoft Graph or Azure Resource Manager, signed like the SDK's, through the same transport."""
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
        from azure.core.rest import HttpRequest

        client = PipelineClient(url, transport=self.transport, policies=[
            RetryPolicy(), BearerTokenCredentialPolicy(self.credential, scope)])
        response = client.send_request(HttpRequest("GET", url))
        response.raise_for_status()
        return response.json()

    @translated("reading the identity's federated credentials")
    def federated_subjects(self, client_id: str) -> set[str]:
        found = self._get(f"https://graph.microsoft.com/v1.0/applications(appId='{client_id}')/"
                          "federatedIdentityCredentials", "https://graph.microsoft.com/.default")
        return {credential["subject"] for credential in found.get("value", [])}

    @translated("reading the identity's role assignments")
    def workspace_roles(self, client_id: str, workspace_id: str) -> list[str]:
        """The built-in roles the identity holds on the workspace (or a scope above it)."""
        principal = self._get(f"https://graph.microsoft.com/v1.0/servicePrincipals(appId='{client_id}')",
                              "https://graph.microsoft.com/.default")["id"]
        found = self._get(f"https://management.azure.com{workspace_id}/providers/Microsoft.Authorization/"
                          f"roleAssignments?api-version=2022-04-01&$filter=assignedTo('{principal}')",
                          "https://management.azure.com/.default")
        roles = (a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for a in found.get("value", []))
        return [self.WORKSPACE_ROLES[role] for role in roles if role in self.WORKSPACE_ROLES]

    # -- monitoring --------------------------------------------------------------------------------

    @translated("creating or updating the model monitor")
    def monitor_schedule(self, endpoint: str, deployment: str, training_data: str, psi: float, ks: float,
                         cron: str) -> str:
        """An Azure ML model monitor: data drift of the deployment's collected inputs against the training
        data, on a schedule; Azure ML runs it (serverless Spark) and alerts. Returns the schedule's name."""
        from azure.ai.ml import Input
        from azure.ai.ml.entities import (CronTrigger, DataDriftMetricThreshold, DataDriftSignal, MonitorDefinition,
                                          MonitoringTarget, MonitorSchedule, NumericalDriftMetrics, ReferenceData,
                                          ServerlessSparkCompute)

        baseline = ReferenceData(input_data=Input(type="uri_file", path=training_data), data_context="training")
        drift = DataDriftSignal(
            reference_data=baseline,
            metric_thresholds=DataDriftMetricThreshold(numerical=NumericalDriftMetrics(
                population_stability_index=psi, two_sample_kolmogorov_smirnov_test=ks)), alert_enabled=True)
        definition = MonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=MonitoringTarget(ml_task="classification",
                                               endpoint_deployment_id=f"azureml:{endpoint}:{deployment}"),
            monitoring_signals={"data-drift": drift})
        schedule = MonitorSchedule(name=f"{endpoint}-monitor", trigger=CronTrigger(expression=cron),
                                   create_monitor=definition)
        self._wait(self.client.schedules.begin_create_or_update(schedule), f"Model monitor of {endpoint}")
        return schedule.name

    # -- scoring -----------------------------------------------------------------------------------

    @translated("reading the endpoint's keys")
    def key(self, endpoint: str) -> str:
        keys = self.client.online_endpoints.get_keys(endpoint)
        if not getattr(keys, "primary_key", None):
            raise ActionError("Endpoint uses tokens", f"endpoint {endpoint} authenticates with tokens (auth_mode "
                              "aml_token or aad_token); the smoke test sends the endpoint key. Fix: auth_mode: key.")
        return keys.primary_key

    def invoke(self, endpoint: str, body: bytes, deployment: str | None, key: str, timeout: float,
               extra_headers: dict[str, str] | None = None):
        """POST to the scoring URI with the key, as a client would; returns (status, text, deployment).
        (online_endpoints.invoke is not used: it makes three management calls per request, and it keeps
        a deployment header for every later call in the process.)"""
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        uri = self._scoring_uris.get(endpoint) or self.client.online_endpoints.get(endpoint).scoring_uri
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}", **(extra_headers or {})}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        try:
            response = self.transport.send(HttpRequest("POST", uri, headers=headers, content=body),
                                           connection_timeout=timeout, read_timeout=timeout)
            response.read()
        except (ServiceRequestError, ServiceResponseError) as error:  # no HTTP answer at all
            return 0, f"no answer: {error}", ""
        return response.status_code, response.text(), response.headers.get("azureml-model-deployment", "")
