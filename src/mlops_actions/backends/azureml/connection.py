"""Connecting to Azure: the transport (or the emulator seam), the credential, and Azure's errors as
clear errors.

For tests, MLOPS_ACTIONS_AZUREML_EMULATOR=http://127.0.0.1:PORT sends every request the SDK, the
credential and the smoke test make to a loopback emulator of Azure (Azure ML, Entra ID, Graph) instead:
an azure-core transport rewrites the https URLs. Nothing else changes: the credential signs in to the
emulator's Entra ID as it would to Azure's.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit, urlunsplit

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
