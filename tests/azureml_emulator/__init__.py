"""A loopback emulator of Azure Machine Learning, for the azureml backend's tests: the management API
azure-ai-ml calls (models, code, environments, datastores, online endpoints and deployments, jobs,
schedules, computes), the workspace's blob storage (Azurite), scoring, Microsoft Entra ID sign-in,
Microsoft Graph and the ARM identities and role assignments that setup reads.

It is an emulator, not Azure. Every rule it enforces comes from Azure's documentation, Azure's REST spec
(through azure-ai-ml's generated models) or the SDK's recordings of live Azure traffic, cited where it is
enforced; docs/azureml-emulator.md lists them, and what is not emulated.
"""

from azureml_emulator.identity import GITHUB_ISSUER, Identity
from azureml_emulator.service import Emulator
from azureml_emulator.storage import Azurite

__all__ = ["Azurite", "Emulator", "GITHUB_ISSUER", "Identity"]
