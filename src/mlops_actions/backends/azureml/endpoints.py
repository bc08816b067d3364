"""Managed online endpoints and deployments: create, deploy, move traffic, delete, and score.

What Azure ML requires, and this module keeps to (learn.microsoft.com/azure/machine-learning/
how-to-safely-rollout-online-endpoints): traffic sums to 0 or 100 and names existing deployments, so a new
endpoint is created without any; mirror traffic goes to a deployment without live traffic; a deployment
with traffic cannot be deleted. A PUT replaces the endpoint, so an endpoint file is merged into the
existing endpoint rather than sent as it is. A resource busy with another operation answers 409: the write
waits for that operation to end (a run cancelled mid-deployment leaves one behind) and goes on.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from mlops_actions import github, splits
from mlops_actions.backends import DeploymentSpec, Endpoint
from mlops_actions.backends.azureml.connection import Connection, failure, translated
from mlops_actions.github import ActionError

BUSY_STATES = {"creating", "updating", "deleting", "scaling"}
# what an endpoint file may change on an existing endpoint; its traffic and mirror traffic stay as they are
MERGED_SETTINGS = {"description": "description", "auth_mode": "auth_mode", "identity": "identity",
                   "public_network_access": "public_network_access"}


def yaml_mapping(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


class Endpoints(Connection):
    busy_wait_seconds = 30 * 60.0  # a first deployment takes 8-14 minutes on Azure ML
    busy_poll_seconds = 15.0
    _scoring_uris: dict[str, str]  # endpoint -> scoring URI, as last read (AzureMLBackend.__init__)

    def deploying(self, endpoint: str) -> contextlib.nullcontext[None]:
        """Azure ML takes one operation at a time on an endpoint (409 otherwise, waited for); the generated
        workflows' concurrency group keeps two deploys from racing."""
        return contextlib.nullcontext()

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
        mirror = {k: int(v) for k, v in (endpoint.mirror_traffic or {}).items() if int(v)}
        return Endpoint(name, endpoint.scoring_uri or "", traffic, deployments, mirror)

    def _when_free(self, begin, what: str, states):
        """Start an operation (begin() reads what it needs and returns the poller) and wait for it. While
        Azure ML answers 409 (busy with another operation on the endpoint), pause — as long as the resources
        show an operation in progress, and at least busy_poll_seconds (or the Retry-After) each time — then
        begin again from a fresh read."""
        from azure.core.exceptions import HttpResponseError

        deadline = time.monotonic() + self.busy_wait_seconds
        while True:
            try:
                poller = begin()
            except HttpResponseError as exc:
                if exc.status_code != 409 or time.monotonic() > deadline:
                    raise
                github.end_line()
                print(f"{what}: Azure ML is busy with another operation on it ({failure(exc)}); waiting for it "
                      "to end", flush=True)
                retry_after = (getattr(exc.response, "headers", None) or {}).get("Retry-After", "")
                time.sleep(float(retry_after) if retry_after.isdigit() else self.busy_poll_seconds)
                while BUSY_STATES & {str(getattr(state, "value", state)).lower() for state in states()} \
                        and time.monotonic() < deadline:
                    time.sleep(self.busy_poll_seconds)
                continue
            return self._wait(poller, what) if poller is not None else None

    def _states(self, endpoint: str, deployment: str | None = None):
        """The provisioning states of an endpoint (and one of its deployments), as a callable."""
        from azure.core.exceptions import ResourceNotFoundError

        def states() -> list[str]:
            found = []
            try:
                found.append(self.client.online_endpoints.get(endpoint).provisioning_state)
                if deployment:
                    found.append(self.client.online_deployments.get(deployment, endpoint).provisioning_state)
            except ResourceNotFoundError:
                pass
            return found
        return states

    @translated("creating or updating the endpoint")
    def ensure_endpoint(self, name: str, spec_file: Path | None = None) -> Endpoint:
        """Create the endpoint if it does not exist (without traffic: it has no deployments yet); with an
        endpoint file, merge the settings it names into the endpoint (its traffic, mirror traffic and other
        settings are kept)."""
        from azure.ai.ml import load_online_endpoint
        from azure.ai.ml.entities import ManagedOnlineEndpoint
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self.client.online_endpoints.get(name)
        except ResourceNotFoundError:
            found = None
        if found and not spec_file:
            return self._existing(name)
        written = yaml_mapping(spec_file) if spec_file else {}

        def begin():  # read again: after a wait, the endpoint may exist, or have changed
            try:
                existing = self.client.online_endpoints.get(name)
            except ResourceNotFoundError:
                existing = None
            from_file = load_online_endpoint(spec_file, params_override=[{"name": name}]) if spec_file else None
            if existing and from_file is None:  # another run created it while this one waited: nothing to write
                return None
            if existing and from_file is not None:
                for key, attribute in MERGED_SETTINGS.items():
                    if key in written:
                        setattr(existing, attribute, getattr(from_file, attribute))
                existing.tags = {**(existing.tags or {}), **(from_file.tags or {})}
                existing.properties = {**(existing.properties or {}), **(from_file.properties or {})}
                endpoint = existing
            else:
                endpoint = from_file or ManagedOnlineEndpoint(name=name, auth_mode="key")
                endpoint.traffic, endpoint.mirror_traffic = {}, {}
            return self.client.online_endpoints.begin_create_or_update(endpoint)
        self._when_free(begin, f"Endpoint {name}", self._states(name))
        return self._existing(name)

    def _existing(self, name: str) -> Endpoint:
        """An endpoint just found or created."""
        endpoint = self.get_endpoint(name)
        assert endpoint is not None, f"endpoint {name} is gone"
        return endpoint

    @translated("creating the deployment")
    def create_deployment(self, spec: DeploymentSpec) -> None:
        """Create the deployment at 0% traffic. A failed one has its logs printed, then is deleted; traffic
        is never touched."""
        from azure.ai.ml import load_online_deployment
        from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment

        assert spec.model is not None, "deploy-endpoint deploys a model it has found"
        settings: dict[str, Any] = {"name": spec.name, "endpoint_name": spec.endpoint, "model": spec.model.uri,
                                    "instance_type": spec.instance_type, "instance_count": spec.instance_count}
        # the inputs override the file before the SDK validates it (it may leave them to the inputs)
        deployment = load_online_deployment(spec.deployment_file, params_override=[settings]) \
            if spec.deployment_file else ManagedOnlineDeployment(**settings)
        if spec.code_path:
            deployment.code_configuration = CodeConfiguration(code=str(spec.code_path),
                                                              scoring_script=spec.scoring_script)
        if spec.environment_file:  # the SDK registers it (anonymously) with the deployment, as the CLI does
            from azure.ai.ml import load_environment

            deployment.environment = load_environment(spec.environment_file)
        elif spec.environment:
            deployment.environment = spec.environment
        if spec.collect_data:  # the model's inputs and outputs, for the model monitor
            from azure.ai.ml.entities import DataCollector, DeploymentCollection

            deployment.data_collector = DataCollector(collections={
                "model_inputs": DeploymentCollection(enabled="true"),
                "model_outputs": DeploymentCollection(enabled="true")})
        what = f"Deployment {spec.endpoint}/{spec.name}"
        try:
            self._when_free(lambda: self.client.online_deployments.begin_create_or_update(deployment), what,
                            self._states(spec.endpoint, spec.name))
        except ActionError as exc:
            self._print_logs(spec.endpoint, spec.name)
            cleaned = self._delete_quietly(spec.endpoint, spec.name)
            raise ActionError(exc.title, f"{exc}. Traffic is unchanged; the failed deployment's logs are above, and "
                              f"it {'was deleted' if cleaned else 'could not be deleted: delete it by hand'}.") \
                from None

    def _print_logs(self, endpoint: str, name: str) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            logs = self.client.online_deployments.get_logs(name, endpoint, lines=200)
        except HttpResponseError as exc:
            logs = f"(its logs could not be read: {failure(exc)})"
        github.end_line()
        with github.group(f"Logs of the failed deployment {endpoint}/{name}"):
            print(logs, flush=True)

    def _delete_quietly(self, endpoint: str, name: str) -> bool:
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.online_deployments.begin_delete(name=name, endpoint_name=endpoint).result()
            return True
        except HttpResponseError:
            return False

    @translated("updating traffic")
    def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """Replace the endpoint's traffic split (0% entries are left out: the PUT replaces the split) and,
        when given, its mirror traffic; a deployment given live traffic is mirrored to no longer."""
        def begin():  # read again: after a wait, the endpoint's other settings may have changed
            found = self.client.online_endpoints.get(endpoint)
            kept = {k: int(v) for k, v in (found.mirror_traffic or {}).items()} if mirror is None else mirror
            found.traffic = {name: share for name, share in traffic.items() if share}
            found.mirror_traffic = splits.mirror_beside(found.traffic, kept)
            return self.client.online_endpoints.begin_create_or_update(found)
        self._when_free(begin, f"Traffic update of {endpoint}", self._states(endpoint))

    @translated("deleting the deployment")
    def delete_deployment(self, endpoint: str, name: str) -> None:
        """Delete a deployment without live traffic; its mirrored traffic, if any, is stopped first."""
        found = self.get_endpoint(endpoint)
        if found and name in found.mirror:
            self.set_traffic(endpoint, found.traffic, {k: v for k, v in found.mirror.items() if k != name})
        self._when_free(lambda: self.client.online_deployments.begin_delete(name=name, endpoint_name=endpoint),
                        f"Deleting {endpoint}/{name}", self._states(endpoint, name))

    # -- scoring -----------------------------------------------------------------------------------

    @translated("reading the endpoint's key or token")
    def key(self, endpoint: str) -> str:
        """What a client sends as its bearer: the primary key (auth_mode key), an Azure ML token (aml_token)
        or a Microsoft Entra token for Azure ML (aad_token)."""
        found = self.client.online_endpoints.get_keys(endpoint)
        secret = getattr(found, "primary_key", None) or getattr(found, "access_token", None)
        if not secret:
            raise ActionError("No key or token", f"endpoint {endpoint} gave neither a key nor a token to score with.")
        return secret

    @translated("reading the deployments' request settings")
    def concurrency_limit(self, endpoint: str, deployment: str | None) -> int | None:
        """How many requests may be in flight at once without a 429: 2 x max_concurrent_requests_per_instance
        x instance_count of the deployment asked for, or of the least of those taking traffic
        (learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints, 429)."""
        found = self.get_endpoint(endpoint)
        names = [deployment] if deployment else [name for name, share in (found.traffic if found else {}).items()
                                                 if share]
        limits = []
        for name in names:
            settings = self.client.online_deployments.get(name, endpoint)
            per_instance = getattr(settings.request_settings, "max_concurrent_requests_per_instance", None) or 1
            limits.append(2 * per_instance * (settings.instance_count or 1))
        return min(limits) if limits else None

    def invoke(self, endpoint: str, body: bytes, deployment: str | None, key: str, timeout: float,
               extra_headers: dict[str, str] | None = None) -> tuple[int, str, str]:
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
