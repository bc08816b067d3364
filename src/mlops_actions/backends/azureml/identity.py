"""The workflow identity's federated credentials and roles, for setup: an app registration's credentials in
Microsoft Graph, a user-assigned managed identity's in Azure Resource Manager (a managed identity has no
application object), and its role assignments at the workspace or above (Azure RBAC, atScope())."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_actions.backends.azureml.connection import EXCHANGE_AUDIENCE, Connection, translated

if TYPE_CHECKING:
    from azure.core.rest import HttpResponse

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass
class WorkflowIdentity:
    client_id: str
    credentials: list[dict]  # {name, issuer, subject, audiences}
    managed: str = ""  # a user-assigned managed identity's resource ID; empty for an app registration
    found: bool = True  # False: neither an app registration nor a managed identity has this client ID

    def accepts(self, subject: str) -> bool:
        """Whether a GitHub token with this subject signs in: issuer, subject and audience must all match."""
        return any(c["issuer"] == GITHUB_ISSUER and c["subject"] == subject and EXCHANGE_AUDIENCE in c["audiences"]
                   for c in self.credentials)

    def near_miss(self, subject: str) -> dict | None:
        """A credential with this subject whose issuer or audiences are wrong."""
        return next((c for c in self.credentials if c["subject"] == subject and not self.accepts(subject)), None)

    def fix(self, name: str, subject: str) -> str:
        if self.managed:  # /subscriptions/{id}/resourcegroups/{group}/providers/.../userAssignedIdentities/{name}
            parts = self.managed.split("/")
            return (f"az identity federated-credential create --name {shlex.quote(name)} --identity-name {parts[-1]} "
                    f"--resource-group {parts[4]} --issuer {GITHUB_ISSUER} --subject {shlex.quote(subject)} "
                    f"--audiences {EXCHANGE_AUDIENCE}")
        parameters = json.dumps({"name": name, "issuer": GITHUB_ISSUER, "subject": subject,
                                 "audiences": [EXCHANGE_AUDIENCE]})
        return f"az ad app federated-credential create --id {self.client_id} --parameters {shlex.quote(parameters)}"


class Identity(Connection):
    # built-in roles that can register models and manage online endpoints on a workspace
    WORKSPACE_ROLES = {"f6c7c914-8db3-469d-8ca1-694a8f32e121": "AzureML Data Scientist",
                       "b24988ac-6210-4c4c-b5ce-ef9fd3e8101f": "Contributor",
                       "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner"}
    # and the others setup asks for (learn.microsoft.com/azure/role-based-access-control/built-in-roles): Reader
    # reads a workspace's models; AzureML Registry User "can perform all actions on Machine Learning Services
    # Registry assets as well as get Registry resources"
    BUILT_IN_ROLES = {**WORKSPACE_ROLES, "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
                      "1823dd4f-9b8c-4ab6-ab4e-7397a3684615": "AzureML Registry User"}

    def _get(self, url: str, scope: str) -> dict:
        """A GET to Microsoft Graph or Azure Resource Manager, signed like the SDK's, through the same transport."""
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
        from azure.core.rest import HttpRequest

        client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(url, transport=self.transport, policies=[
            RetryPolicy(), BearerTokenCredentialPolicy(self.credential, scope)])
        response = client.send_request(HttpRequest("GET", url))
        response.raise_for_status()
        return response.json()

    def _get_all(self, url: str, scope: str) -> list[dict]:
        """Every item of a listing, following its nextLink pages."""
        items: list[dict] = []
        while url:
            page = self._get(url, scope)
            items += page.get("value", [])
            url = page.get("nextLink") or page.get("@odata.nextLink") or ""
        return items

    @translated("reading the identity's federated credentials")
    def workflow_identity(self, client_id: str, subscription: str, resource_group: str) -> WorkflowIdentity:
        """The identity's federated credentials: an app registration's (Graph), else a user-assigned managed
        identity's (ARM: looked for in the workspace's resource group, then in the whole subscription)."""
        from azure.core.exceptions import HttpResponseError

        try:
            found = self._get(f"https://graph.microsoft.com/v1.0/applications(appId='{client_id}')/"
                              "federatedIdentityCredentials", "https://graph.microsoft.com/.default")
            return WorkflowIdentity(client_id, found.get("value", []))
        except HttpResponseError as exc:
            if exc.status_code != 404:  # no application: perhaps a managed identity
                raise
        arm = "https://management.azure.com"
        managed = None
        subscription_scope = f"/subscriptions/{subscription}"
        for scope in (f"{subscription_scope}/resourceGroups/{resource_group}", subscription_scope):
            try:
                identities = self._get_all(f"{arm}{scope}/providers/Microsoft.ManagedIdentity/"
                                           "userAssignedIdentities?api-version=2023-01-31", f"{arm}/.default")
            except HttpResponseError as exc:
                if exc.status_code != 403 or scope == f"{subscription_scope}/resourceGroups/{resource_group}":
                    raise
                break  # whoever runs this may read the resource group only: what it holds was searched
            managed = next((i for i in identities if i["properties"].get("clientId") == client_id), None)
            if managed:
                break
        if managed is None:
            return WorkflowIdentity(client_id, [], found=False)
        credentials = self._get_all(f"{arm}{managed['id']}/federatedIdentityCredentials?api-version=2023-01-31",
                                    f"{arm}/.default")
        return WorkflowIdentity(client_id, [{"name": c["name"], **c["properties"]} for c in credentials],
                                managed=managed["id"])

    def workspace_roles(self, client_id: str, workspace_id: str) -> list[str]:
        """The built-in roles that let the identity register models and deploy, on the workspace or above it."""
        return [role for role in self.roles_at(client_id, workspace_id) if role in self.WORKSPACE_ROLES.values()]

    @translated("reading the identity's role assignments")
    def roles_at(self, client_id: str, scope: str) -> list[str]:
        """The built-in roles (BUILT_IN_ROLES) the identity holds on the scope (a workspace's or a registry's ARM
        id) or above it (atScope(): a role on one endpoint below the workspace does not let it register models)."""
        principal = self._get(f"https://graph.microsoft.com/v1.0/servicePrincipals(appId='{client_id}')",
                              "https://graph.microsoft.com/.default")["id"]
        found = self._get_all(f"https://management.azure.com{scope}/providers/Microsoft.Authorization/"
                              f"roleAssignments?api-version=2022-04-01&$filter=atScope() and assignedTo('{principal}')",
                              "https://management.azure.com/.default")
        roles = (a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for a in found
                 if a["properties"].get("principalId") == principal)
        return [self.BUILT_IN_ROLES[role] for role in roles if role in self.BUILT_IN_ROLES]
