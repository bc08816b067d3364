"""Managed online endpoints and deployments: create, deploy, move traffic, delete, and score."""

from __future__ import annotations

from pathlib import Path

from mlops_actions.backends import DeploymentSpec, Endpoint
from mlops_actions.backends.azureml.connection import failure, translated
from mlops_actions.github import ActionError


class Endpoints:
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
