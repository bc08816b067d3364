"""The workspace's model registry."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from mlops_actions.backends import CONTENT_HASH_TAG, Backend, ModelVersion, registry_uri
from mlops_actions.backends.azureml.connection import Connection, failure, hint, translated
from mlops_actions.github import ActionError


class Registry(Connection):
    """A workspace's models, or (registry set) an Azure ML registry's."""
    registry: str

    def _version(self, model) -> ModelVersion:
        uri = registry_uri(self.registry, model.name, str(model.version)) if self.registry else \
            f"azureml:{model.name}:{model.version}"
        return ModelVersion(model.name, str(model.version), uri, model.type or "mlflow_model", dict(model.tags or {}),
                            str(model.path or ""))

    def _where(self) -> str:
        return f"registry {self.registry}" if self.registry else f"workspace {self.workspace}"

    @translated("finding the registry")
    def _registry_client(self, registry: str):
        """An MLClient of the registry: the SDK asks Azure ML's registry discovery for its subscription, resource
        group and region at once."""
        from azure.ai.ml import MLClient
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return MLClient(self.credential, registry_name=registry, transport=self.transport,
                            enable_telemetry=False, show_progress=False)
        except ResourceNotFoundError:
            raise ActionError("Registry not found", f"Azure ML has no registry {registry} (registry discovery "
                              "answered 404 Not Found). Fix: create it (az ml registry create) or correct the name; "
                              "the workflow's identity needs a role on it (AzureML Registry User).") from None

    def registry_id(self) -> str:
        """The registry's ARM id, from registry discovery (its subscription and resource group); an ActionError
        when there is no such registry."""
        client = self.client
        return (f"/subscriptions/{client.subscription_id}/resourceGroups/{client.resource_group_name}/providers/"
                f"Microsoft.MachineLearningServices/registries/{self.registry}")

    @translated("listing the model's versions")
    def find_model(self, name: str, content_hash: str) -> ModelVersion | None:
        from azure.core.exceptions import HttpResponseError

        try:
            versions = list(self.client.models.list(name=name))
        except HttpResponseError as exc:  # a registry's list answers a plain HttpResponseError, a workspace's not
            if exc.status_code == 404:
                return None
            raise
        same = [m for m in versions if (m.tags or {}).get(CONTENT_HASH_TAG) == content_hash]
        return self._version(min(same, key=lambda m: (not str(m.version).isdigit(), int(m.version)
                                                      if str(m.version).isdigit() else 0, str(m.version)))) \
            if same else None

    attempts = 3  # registrations raced to the same next version before one gives up

    @translated("registering the model")
    def register_model(self, name: str, path: Path | str, model_type: str, description: str, tags: dict[str, str],
                       properties: dict[str, str], content_hash: str) -> tuple[ModelVersion, bool]:
        """Register the next version; returns it and True (new). Two runs registering at once can be given the
        same next version: the second is refused ("Asset paths cannot be updated") and tries the version after.
        Two runs registering the same files at the same moment can both create a version: the workspace has
        no lock to take."""
        from azure.ai.ml.entities import Model
        from azure.core.exceptions import HttpResponseError

        for attempt in range(1, self.attempts + 1):
            model = Model(name=name, path=str(path), type=model_type, description=description or None,
                          tags={**tags, CONTENT_HASH_TAG: content_hash}, properties=properties)
            try:
                return self._version(self.client.models.create_or_update(model)), True
            except HttpResponseError as exc:
                if "Asset paths cannot be updated" in str(exc) and attempt < self.attempts:
                    print(f"Model {name}: another run took the version this one was given; trying the next",
                          flush=True)
                    continue
                raise ActionError("Registration failed", f"Azure ML refused model {name}: {failure(exc)}."
                                  f"{hint(exc)}") from None
        raise AssertionError("the last attempt returns or raises")  # attempts is at least 1

    @translated("reading the model")
    def get_model(self, name: str, version: str) -> ModelVersion:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self.client.models.get(name, label="latest") if version == "latest" else \
                self.client.models.get(name, version=version)
        except ResourceNotFoundError:
            raise ActionError("Model not found", f"model {name} version {version} is not in {self._where()}. Fix: "
                              "register it first with register-model, or give an existing model-version.") from None
        return self._version(found)

    @translated("reading the model")
    def find_version(self, name: str, version: str) -> ModelVersion | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._version(self.client.models.get(name, version=version))
        except ResourceNotFoundError:
            return None

    @translated("promoting the model")
    def copy_model(self, source: Backend, model: ModelVersion, tags: dict[str, str]) -> ModelVersion:
        """Into a registry: shared from the source workspace (as ml_client.models.share does: Azure ML's copy of a
        workspace's version into a registry, which keeps its files and tags). Into a workspace: downloaded from the
        source and registered here as the same version with `tags` (Azure ML copies between workspaces through a
        registry alone)."""
        from azure.ai.ml.entities import Model

        assert isinstance(source, Registry), "promote-model reads and writes one backend kind"
        if self.registry:
            if source.registry:
                raise ActionError("Not supported", f"copying from registry {source.registry} into registry "
                                  f"{self.registry}: Azure ML shares from a workspace into a registry. Fix: promote "
                                  "from the workspace the version was registered in.")
            # what ml_client.models.share does, through this registry client: share() builds a registry client of its
            # own, without the transport (and the proxy settings) this backend was given
            from azure.ai.ml.entities import WorkspaceModelReference

            workspace = source.client.workspaces.get(source.workspace)
            asset_id = (f"azureml://locations/{workspace.location}/workspaces/{workspace._workspace_id}/models/"
                        f"{model.name}/versions/{model.version}")  # ASSET_ID_FORMAT, as share() builds it
            reference = WorkspaceModelReference(name=model.name, version=model.version, asset_id=asset_id)
            return self._version(self.client.models.create_or_update(reference))
        with tempfile.TemporaryDirectory(prefix="mlops-actions-promote-") as folder:
            source.client.models.download(model.name, model.version, download_path=folder)
            files = [path for path in Path(folder, model.name).iterdir()] if Path(folder, model.name).is_dir() else []
            if len(files) != 1:
                raise ActionError("Download failed", f"{model.uri} in {source._where()} downloaded as "
                                  f"{len(files)} items, not its one file or folder; nothing was registered.")
            copied = Model(name=model.name, version=model.version, path=str(files[0]), type=model.type, tags=tags)
            return self._version(self.client.models.create_or_update(copied))

    @translated("reading the deployment's model")
    def deployed_model(self, endpoint: str, deployment: str) -> ModelVersion:
        """The deployment's model, given as an ARM id (.../workspaces/<ws>/models/<name>/versions/<version>, as
        Azure answers for azureml:<name>:<version>) of this workspace's registry."""
        reference = str(self.client.online_deployments.get(deployment, endpoint).model or "")
        match = re.search(r"/workspaces/[^/]+/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", reference) or \
            re.match(r"^azureml:(?P<name>[^:/]+):(?P<version>[^:/]+)$", reference)
        if not match:
            raise ActionError("Model not in the workspace", f"deployment {deployment} of endpoint {endpoint} serves "
                              f"{reference or 'no registered model'}, not a version of workspace {self.workspace}'s "
                              "registry, whose tags hold its metrics. Fix: deploy a registered model version.")
        return self.get_model(match["name"], match["version"])
