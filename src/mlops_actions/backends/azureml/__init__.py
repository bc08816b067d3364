"""The azureml backend: an Azure Machine Learning workspace, through azure-ai-ml (the SDK, unchanged).

One module per concern: connection (transport, sign-in, errors), registry, endpoints (and scoring), jobs,
identity (setup's checks), monitoring.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from mlops_actions.github import ActionError

from mlops_actions.backends.azureml.connection import EMULATOR, credential, emulator_transport, failure, translated
from mlops_actions.backends.azureml.endpoints import Endpoints
from mlops_actions.backends.azureml.identity import Identity
from mlops_actions.backends.azureml.jobs import Jobs
from mlops_actions.backends.azureml.monitoring import Monitoring
from mlops_actions.backends.azureml.registry import Registry

__all__ = ["AzureMLBackend", "EMULATOR", "emulator_transport", "failure", "translated"]


class AzureMLBackend(Registry, Endpoints, Jobs, Identity, Monitoring):
    name = "azureml"

    def __init__(self, subscription: str, resource_group: str, workspace: str, client_id: str = "",
                 tenant_id: str = "", registry: str = ""):
        from azure.ai.ml import MLClient
        from azure.core.pipeline.transport import RequestsTransport

        emulator = os.environ.get(EMULATOR)
        if emulator:
            if urlsplit(emulator).hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ActionError("Emulator not on this machine", f"{EMULATOR} is {emulator!r}: the Azure ML emulator "
                                  "runs on loopback, and every token would be sent there. Fix: unset it, or point it "
                                  "at http://127.0.0.1:PORT.")
            print(f"azureml backend: using the Azure ML emulator at {emulator} ({EMULATOR})", file=sys.stderr)
        self.transport = emulator_transport(emulator) if emulator else RequestsTransport()
        self.workspace, self.registry = workspace, registry
        self.credential = credential(self.transport, client_id, tenant_id)
        if not registry:
            self.client = MLClient(self.credential, subscription, resource_group, workspace, transport=self.transport,
                                   enable_telemetry=False, show_progress=False)
        else:
            self.client = self._registry_client(registry)
        self._scoring_uris: dict[str, str] = {}

    @classmethod
    def for_registry(cls, registry: str, client_id: str = "", tenant_id: str = "") -> AzureMLBackend:
        """The Azure ML registry `registry`, for its models (a registry has no endpoints)."""
        return cls("", "", "", client_id, tenant_id, registry=registry)
