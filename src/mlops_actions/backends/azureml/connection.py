"""Connecting to Azure: the transport (or the emulator seam), the credential, and Azure's errors as
clear errors.

Sign-in: on a GitHub runner whose job may ask for an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN,
with id-token: write) and with the identity named (client-id and tenant-id, as azure/login has them), a
client assertion credential asks GitHub for a fresh ID token whenever Entra ID needs one: the token
azure/login exchanged expires in minutes and the Azure CLI's in 60-90, so a long training or a slow
deployment outlives them (AADSTS700024). Elsewhere, DefaultAzureCredential (the Azure CLI's session,
workload identity or environment variables).

For tests, MLOPS_ACTIONS_AZUREML_EMULATOR=http://127.0.0.1:PORT sends every request the SDK, the
credential and the smoke test make to a loopback emulator of Azure (Azure ML, Entra ID, Graph) instead:
an azure-core transport rewrites the https URLs. Nothing else changes: the credential signs in to the
emulator's Entra ID as it would to Azure's.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mlops_actions.github import ActionError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.polling import LROPoller
    from azure.core.rest import HttpResponse

EMULATOR = "MLOPS_ACTIONS_AZUREML_EMULATOR"
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # what Entra ID accepts from GitHub (workload identity federation)
SIGN_IN_FIX = ("Fix: sign in before this step with azure/login (OIDC: client-id, tenant-id, subscription-id; the job "
               "needs id-token: write), and give this action client-id and tenant-id too, so that it asks GitHub "
               "for a fresh token whenever it needs one.")

Self = TypeVar("Self")
Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


class Connection:
    """What each part of AzureMLBackend (a mixin per concern) works with: AzureMLBackend.__init__ sets these."""
    workspace: str
    transport: RequestsTransport
    credential: TokenCredential
    client: MLClient

    def _wait(self, poller: LROPoller[Result], what: str) -> Result:
        from azure.core.exceptions import HttpResponseError

        try:
            return poller.result()
        except HttpResponseError as exc:
            raise ActionError(f"{what} failed", f"{what} failed on Azure ML: {failure(exc)}") from None


def github_id_token(transport):
    """A function returning a new GitHub OIDC token for Entra ID each time it is called
    (docs.github.com: "Requesting the JWT using environment variables")."""
    from azure.core import PipelineClient
    from azure.core.rest import HttpRequest

    url = os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(url, transport=transport)

    def fetch() -> str:
        request = HttpRequest("GET", url, params={"audience": EXCHANGE_AUDIENCE}, headers={
            "Authorization": f"bearer {os.environ['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}", "Accept": "application/json"})
        response = client.send_request(request)
        if response.status_code != 200:
            raise ActionError("GitHub OIDC token", f"GitHub did not issue an OIDC token (status "
                              f"{response.status_code}). Fix: give the job `permissions: id-token: write`.")
        return response.json()["value"]
    return fetch


def credential(transport, client_id: str = "", tenant_id: str = ""):
    """The credential to sign in with (see the module's docstring)."""
    client_id = client_id or os.environ.get("AZURE_CLIENT_ID", "")
    tenant_id = tenant_id or os.environ.get("AZURE_TENANT_ID", "")
    oidc = all(os.environ.get(name) for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    if oidc and client_id and tenant_id:
        from azure.identity import ClientAssertionCredential

        return ClientAssertionCredential(tenant_id, client_id, github_id_token(transport), transport=transport)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(transport=transport)


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
    """What an azure-core error says, in one line (with the details Azure gives, such as each invalid
    property of a request)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    details = [getattr(detail, "message", "") for detail in getattr(error, "details", None) or []]
    text = f"{code}: {message}" if code else " ".join(lines[:3])
    return text + (f" ({'; '.join(filter(None, details))})" if any(details) else "")


def hint(exc) -> str:
    """The fix for a refusal, by the service that refused (the request's host and path)."""
    status = getattr(exc, "status_code", None)
    url = str(getattr(getattr(getattr(exc, "response", None), "request", None), "url", "") or "")
    if "AADSTS700024" in str(exc):
        return (" Entra ID answered AADSTS700024: the GitHub token azure/login signed in with has expired (they "
                "live minutes; the Azure CLI's tokens 60-90 minutes). " + SIGN_IN_FIX)
    if status not in (401, 403):
        return ""
    host = urlsplit(url).hostname or ""
    if host == "graph.microsoft.com":
        return (" Fix: reading app registrations in Microsoft Graph needs the Application.Read.All permission "
                "(or ownership of the app registration) for whoever runs this.")
    if "/providers/Microsoft.ManagedIdentity/" in url:
        return (" Fix: reading managed identities needs the Reader role on their resource group or subscription "
                "for whoever runs this.")
    if "/providers/Microsoft.Authorization/" in url:
        return (" Fix: reading role assignments needs Microsoft.Authorization/roleAssignments/read on the "
                "workspace (the Reader role has it).")
    if host.endswith(".blob.core.windows.net"):
        return (" Fix: the workspace's storage account refused the upload: give the workflow's identity Storage "
                "Blob Data Contributor on it (for identity-based datastores), and let the runner through its "
                "network rules (Networking: allow the runner's addresses, or use a self-hosted runner inside).")
    return " Fix: give the workflow's identity a role on the workspace (AzureML Data Scientist)."


def translated(what: str) -> Callable[[Callable[Concatenate[Self, Parameters], Result]],
                                      Callable[Concatenate[Self, Parameters], Result]]:
    """Turn the SDK's errors escaping a backend method into one clear ActionError each (the method keeps its
    signature)."""
    def wrap(method: Callable[Concatenate[Self, Parameters], Result]
             ) -> Callable[Concatenate[Self, Parameters], Result]:
        @functools.wraps(method)
        def call(self: Self, *args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
            from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
            from marshmallow.exceptions import ValidationError

            try:
                return method(self, *args, **kwargs)
            except ClientAuthenticationError as exc:
                fix = hint(exc) if "AADSTS700024" in str(exc) else " " + SIGN_IN_FIX
                raise ActionError("Azure sign-in failed", f"{what}: {failure(exc)}.{fix}") from None
            except HttpResponseError as exc:
                raise ActionError(f"Azure ML refused: {what}", f"{what}: {failure(exc)}.{hint(exc)}") from None
            except (AzureError, ValidationError) as exc:
                raise ActionError(f"{what} failed", f"{what}: {failure(exc)}") from None
        return call
    return wrap
