"""The workspace's model registry."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_actions.backends import CONTENT_HASH_TAG, ModelVersion
from mlops_actions.backends.azureml.connection import Connection, failure, hint, translated
from mlops_actions.github import ActionError


class Registry(Connection):
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
            raise ActionError("Model not found", f"model {name} version {version} is not in workspace "
                              f"{self.workspace}. Fix: register it first with register-model, or give an existing "
                              "model-version.") from None
        return self._version(found)

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
