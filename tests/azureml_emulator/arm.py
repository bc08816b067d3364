"""What every Azure Resource Manager answer of the emulator shares: the error shape, long-running
operations, and conflicts between them.

Sources (docs/azureml-emulator.md lists them with the recordings each behaviour is taken from):
- ARM's resource provider contract, Azure/azure-resource-manager-rpc v1.0/Addendum.md ("Asynchronous
  operations"): the terminal states Succeeded, Failed and Canceled; the operation resource
  {id, name, status, startTime, endTime, percentComplete, error}; "The server must never have more than one
  ongoing PUT operation for a given resource ... should immediately return a 409 Conflict"; "If the server
  receives a DELETE request while there is an ongoing PUT or PATCH operation, the server should return 409
  Conflict immediately."; PATCH and DELETE move provisioningState to Updating and Deleting.
- azure-sdk-assets recordings of azure-ai-ml 1.32 against live Azure
  (python/sdk/ml/azure-ai-ml/tests/recordings/online_services/e2etests/test_online_endpoint.py...e2e.json):
  an operation answers status "Updating" until it ends (never "InProgress"), endTime
  "0001-01-01T00:00:00+00:00" and percentComplete 0.0 meanwhile; operation ids are oeidp:{workspace id}:{guid}
  for endpoints and odidp: for deployments; no Retry-After header on endpoint or deployment operations.
- The ARM error shape, as recorded: {"error": {"code", "message", "details", "additionalInfo"}} with the
  header x-ms-response-type: error; validation errors say "Request is invalid and/or missing fields." with
  one RequestInvalid detail per problem
  (recordings/command_job/e2etests/test_command_job.py...test_command_job_register_output.json).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Callable

ARM = "https://management.azure.com"
NOT_ENDED = "0001-01-01T00:00:00+00:00"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class ArmError(Exception):
    """An error answer: raised anywhere in a handler, turned into ARM's error shape."""

    def __init__(self, status: int, message: str, code: str = "UserError", details: list[dict] | None = None,
                 inner: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.inner, self.headers = details or [], inner, headers or {}

    def answer(self, location: str) -> tuple[int, dict, dict]:
        info = [{"type": "ComponentName", "info": {"value": "managementfrontend"}},
                {"type": "Correlation", "info": {"value": {"operation": uuid.uuid4().hex,
                                                           "request": uuid.uuid4().hex[:16]}}},
                {"type": "Environment", "info": {"value": location}},
                {"type": "Location", "info": {"value": location}},
                {"type": "Time", "info": {"value": now()}}]
        if self.inner:
            info.append({"type": "InnerError", "info": {"value": {"code": self.inner, "innerError": None}}})
        body = {"error": {"code": self.code, "message": self.message, "details": self.details,
                          "additionalInfo": info}}
        return self.status, body, {"x-ms-response-type": "error", **self.headers}


def not_found(what: str, detail_code: str | None = None) -> ArmError:
    details = [{"code": detail_code, "message": what, "details": [], "additionalInfo": []}] if detail_code else []
    return ArmError(404, "The specified resource was not found." if detail_code else what, details=details)


def invalid(problems: list[str]) -> ArmError:
    """A body that does not match the REST spec's model, as the service refuses it."""
    return ArmError(400, "Request is invalid and/or missing fields.", inner="RequestInvalid", details=[
        {"code": "RequestInvalid", "message": problem, "details": [], "additionalInfo": []} for problem in problems])


def bad_request(message: str, inner: str = "BadArgument") -> ArmError:
    return ArmError(400, message, inner=inner)


def conflict(resource: str, state: str) -> ArmError:
    return ArmError(409, f"{resource} is in the {state} state and another operation is in progress on it. "
                    "Retry when it ends.", code="Conflict")


@dataclass
class Operation:
    """A long-running operation. It answers "Updating" for `polls` looks (a poll of its status, or a GET of
    its resource), and for as long as `ready()` says it cannot end yet; then `finish()` applies its effect
    and returns its error (None when it succeeded)."""

    id: str
    resource: tuple
    state: str  # the resource's provisioningState meanwhile: Creating, Updating or Deleting
    polls: int
    finish: Callable[[], dict | None]
    ready: Callable[[], bool] = lambda: True
    status: str = "Updating"
    error: dict | None = None
    start: str = field(default_factory=now)
    end: str = NOT_ENDED

    @property
    def done(self) -> bool:
        return self.status in ("Succeeded", "Failed", "Canceled")

    def look(self) -> None:
        """One more look at the operation: it moves on."""
        if self.done:
            return
        if self.polls > 0:
            self.polls -= 1
            return
        if not self.ready():
            return
        self.error = self.finish()
        self.status, self.end = ("Failed" if self.error else "Succeeded"), now()

    def body(self, url_path: str) -> dict:
        body = {"id": url_path, "name": self.id, "status": self.status, "startTime": self.start,
                "endTime": self.end, "percentComplete": 0.0}
        if self.error:
            body["error"] = self.error
        return body
