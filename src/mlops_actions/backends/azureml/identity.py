"""The workflow identity's federated credentials (Microsoft Graph) and roles (Azure RBAC), for setup."""

from __future__ import annotations

from mlops_actions.backends.azureml.connection import translated


class Identity:
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
