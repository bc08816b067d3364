"""The emulator's front: one loopback HTTP server for every Azure host the SDK talks to (the original host
arrives in X-Original-Host, set by the package's emulator transport), the workspace resource, request
checks, injected faults, and the routing to each concern's mixin.

It is an emulator, not Azure: docs/azureml-emulator.md lists the rules it enforces, their sources, and what
it does not emulate.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from azureml_emulator.arm import ARM, ArmError, Operation, bad_request, conflict, invalid, not_found
from azureml_emulator.assets import AssetService
from azureml_emulator.endpoints import EndpointService
from azureml_emulator.identity import IdentityService
from azureml_emulator.jobs import JobService
from azureml_emulator.registries import RegistryService
from azureml_emulator.rest import SPEC_VERSION, canonical, validate
from azureml_emulator.scoring import ScoringService

WORKSPACE = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                       r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$", re.IGNORECASE)
WORKSPACE_IN = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                          r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$", re.IGNORECASE)
OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.MachineLearningServices/locations/[^/]+/"
                       r"(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<id>[^/]+)$", re.IGNORECASE)


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    body: dict
    headers: dict
    times: int


class Emulator(IdentityService, AssetService, EndpointService, ScoringService, JobService, RegistryService):
    """An Azure ML workspace (with its storage, sign-in and identities) on loopback."""

    location = "eastus"

    def __init__(self, storage=None, subscription: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "rg", workspace: str = "ws", computes: dict | None = None, polls: int = 2,
                 seed: int = 0, workspaces: list[dict] | None = None):
        self.storage = storage  # an azureml_emulator.storage.Azurite, or None for tests that upload nothing
        self.subscription, self.resource_group, self.workspace = subscription, resource_group, workspace
        self.workspace_guid = str(uuid.uuid4())
        self.polls = polls  # how many looks a long-running operation answers "Updating" before it ends
        self.random = random.Random(seed)
        self.computes = {"cpu-cluster": "AmlCompute"} if computes is None else computes
        self.operations: dict[str, Operation] = {}
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, re.Pattern, object]] = []  # (method, path, action) run once, after answering
        self.requests: list[tuple[str, str, str]] = []  # (method, host, path) of every request
        self.answered: list[tuple[str, str, int]] = []  # (method, path, status) of every answer
        self.bodies: list[tuple[str, str, object]] = []  # (method, path, body) of every management request
        self.lock = threading.RLock()
        self.api_version = ""  # the request's, while one is handled
        self._identity_state()
        self._asset_state()
        self._endpoint_state()
        self._scoring_state()
        self._job_state()
        self._registry_state()
        self.workspaces: list[Emulator] = [self]  # every workspace this emulator's server answers for
        for settings in workspaces or ():
            self.add_workspace(**settings)

    # -- what tests use ----------------------------------------------------------------------------

    @property
    def ws_id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{self.workspace}")

    def add_workspace(self, workspace: str, resource_group: str | None = None, subscription: str | None = None,
                      computes: dict | None = None) -> Emulator:
        """Another workspace on this emulator's server (as a team's staging and production workspaces): assets,
        endpoints, jobs, computes and datastores of its own (its own containers in the shared Azurite); the same
        tenant, identities, role assignments (each at its scope), registries, operations and request logs.
        Returns it: its ws_id, models, endpoints... as this one's."""
        other = Emulator(self.storage, subscription or self.subscription, resource_group or self.resource_group,
                         workspace, computes, self.polls)
        if any(w.ws_id.lower() == other.ws_id.lower() for w in self.workspaces):
            raise ValueError(f"the emulator holds {other.ws_id} already")
        for shared in ("secret_key", "identities", "tokens_issued", "github_request_token", "registries",
                       "operations", "faults", "hooks", "requests", "answered", "bodies", "lock", "workspaces"):
            setattr(other, shared, getattr(self, shared))
        other.now = self.now  # one clock: a test moves this emulator's
        other.url = getattr(self, "url", "")
        self.workspaces.append(other)
        return other

    def workspace_at(self, subscription: str, resource_group: str, workspace: str) -> Emulator | None:
        """The workspace an ARM path names (resource group names are case-insensitive, as ARM reads them:
        learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules)."""
        return next((w for w in self.workspaces if w.subscription == subscription and w.workspace == workspace
                     and w.resource_group.lower() == resource_group.lower()), None)

    def workspace_of(self, path: str) -> Emulator | None:
        """The workspace a data-plane path names (.../workspaces/{name}/...)."""
        match = WORKSPACE_IN.search(path)
        return self.workspace_at(match["sub"], match["rg"], match["ws"]) if match else None

    def fail_next(self, method: str, path: str, status: int, times: int = 1, body: dict | None = None,
                  headers: dict | None = None) -> None:
        """Answer the next `times` requests whose path matches `path` (a regex) with `status`."""
        self.faults.append(Fault(method, re.compile(path), status, body or {"error": {
            "code": "TooManyRequests" if status == 429 else "InternalServerError", "message": f"injected {status}"}},
            headers or ({"Retry-After": "1"} if status == 429 else {}), times))

    def after(self, method: str, path: str, action) -> None:
        """Run `action()` once, right after answering the next request matching `method` and `path` (a
        regex): another client acting between two of the SDK's calls, as in a race."""
        self.hooks.append((method, re.compile(path), action))

    def run_hooks(self, method: str, path: str) -> None:
        with self.lock:
            due = [hook for hook in self.hooks if hook[0] == method and hook[1].search(path)]
            for hook in due:
                self.hooks.remove(hook)
        for hook in due:  # outside the lock: an action may send requests of its own
            hook[2]()

    def calls(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, str]]:
        return [call for call in self.requests if (method is None or call[0] == method) and contains in call[2]]

    def sent(self, method: str, contains: str) -> list:
        """The bodies of the management requests matching `method` and a path fragment."""
        return [body for m, path, body in self.bodies if m == method and contains in path]

    # -- long-running operations -------------------------------------------------------------------

    def start_operation(self, prefix: str, resource: tuple, state: str, finish, ready=lambda: True,
                        api_version: str = "2023-04-01-preview", location_is_resource: str | None = None,
                        op_id: str | None = None, status_url: bool = True, timeout: str = "PT30M") -> dict:
        """Begin an operation on `resource`; returns the headers the answer carries (as recorded: no
        Retry-After, a 30-minute timeout; a job's cancel has only a Location, polled until it answers 200)."""
        op_id = op_id or f"{prefix}:{self.workspace_guid}:{uuid.uuid4()}"
        self.operations[op_id] = Operation(op_id, resource, state, self.polls, finish, ready)
        base = (f"{ARM}/subscriptions/{self.subscription}/providers/Microsoft.MachineLearningServices/locations/"
                f"{self.location}")
        headers = {"x-ms-async-operation-timeout": timeout,
                   "Location": location_is_resource or f"{base}/mfeOperationResults/{op_id}?api-version={api_version}"}
        if status_url:
            headers["Azure-AsyncOperation"] = f"{base}/mfeOperationsStatus/{op_id}?api-version={api_version}"
        return headers

    def operation_on(self, resource: tuple) -> Operation | None:
        """The operation in progress on `resource`; a look at the resource moves it on."""
        for operation in self.operations.values():
            if operation.resource == resource and not operation.done:
                operation.look()
                if not operation.done:
                    return operation
        return None

    def refuse_if_busy(self, resource: tuple, what: str) -> None:
        """409 while an operation is in progress on `resource` (a refused write does not move it on). Source: ARM RPC
        Addendum, "The server must never have more than one ongoing PUT operation for a given resource … 409
        Conflict"; a DELETE during a PUT or PATCH "should return 409 Conflict"."""
        operation = next((o for o in self.operations.values() if o.resource == resource and not o.done), None)
        if operation:
            raise conflict(what, operation.state)

    def check(self, model_class, body, what: str) -> dict:
        """The body, refused (400) unless it is a valid `model_class`, with its enums as the service writes them."""
        problems = validate(model_class, body, older=self.api_version < SPEC_VERSION)
        if problems:
            raise invalid([f"{what}: {problem}" for problem in problems])
        return canonical(model_class, body)

    # -- requests ----------------------------------------------------------------------------------

    def handle(self, method: str, host: str, path: str, query: dict, headers, raw: bytes):
        """-> (status, json body or None, headers)"""
        with self.lock:  # concurrent requests each take one of a fault's answers
            self.requests.append((method, host, path))
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    return fault.status, fault.body, fault.headers
        if host.endswith(".inference.ml.azure.com"):  # an endpoint's name is unique in its region
            name = host.split(".")[0]
            serving = next((w for w in self.workspaces if name in w.endpoints), self)
            return serving.score(name, path, headers, raw)
        if host == "login.microsoftonline.com":
            return self.entra(method, path, raw)
        if host.endswith(".actions.githubusercontent.com"):
            return self.github_oidc(path, query, headers)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return ArmError(400, "The request content was invalid and could not be deserialized.",
                            code="InvalidRequestContent").answer(self.location)
        with self.lock:
            self.api_version = query.get("api-version", [""])[0]
            try:
                if host.endswith(".api.azureml.ms") and path == "/discovery":  # discovery is public
                    return self.workspace_services(method, host, path, body)
                identity = self.check_token(headers, host if host == "graph.microsoft.com" else
                                            "management.azure.com")
                self.bodies.append((method, path, body))
                if host == "graph.microsoft.com":
                    return self.graph(path)
                if host.endswith(".api.azureml.ms") and path.startswith("/registrymanagement/"):
                    return self.registry_discovery(path)  # any signed-in identity (registries.py)
                if host.endswith(".experiments.azureml.net"):  # a registry's data plane
                    self.authorize(identity, method, self.registry_scope(path))
                    return self.registry_data_plane(method, path, query, body)
                # a role at the scope or above (learn.microsoft.com/azure/role-based-access-control/built-in-roles;
                # error-authorization-failed); polling an operation one started needs no role of its own
                if host.endswith(".api.azureml.ms") and "/workspaces/" in path:  # a workspace's data plane
                    target = self.workspace_of(path)
                    if target is None:
                        raise ArmError(404, f"The Resource '{path}' was not found.", code="ResourceNotFound")
                    self.authorize(identity, method, target.ws_id + WORKSPACE_IN.search(path)["rest"])
                    target.api_version = self.api_version
                    return target.workspace_services(method, host, path, body)
                if not OPERATION.match(path):
                    self.authorize(identity, method, path)
                if host.endswith(".api.azureml.ms"):
                    return self.workspace_services(method, host, path, body)
                return self.management(method, path, query, body)
            except ArmError as error:
                return error.answer(self.location)

    def management(self, method: str, path: str, query: dict, body):
        if match := OPERATION.match(path):
            return self.operation_status(match["kind"], match["id"], path)
        if re.search(r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities", path, re.IGNORECASE):
            return self.managed_identities(path)
        if path.endswith("/providers/Microsoft.Authorization/roleAssignments"):
            return self.role_assignments(path.removesuffix("/providers/Microsoft.Authorization/roleAssignments"),
                                         query)
        match = WORKSPACE.match(path)
        in_group = [w for w in self.workspaces if match and w.subscription == match["sub"]
                    and w.resource_group.lower() == match["rg"].lower()]
        if not in_group:
            raise ArmError(404, f"The Resource '{path}' was not found.", code="ResourceNotFound")
        target = self.workspace_at(match["sub"], match["rg"], match["ws"])
        if target is None:
            raise ArmError(404, f"The Resource 'Microsoft.MachineLearningServices/workspaces/{match['ws']}' under "
                           f"resource group '{match['rg']}' was not found.", code="ResourceNotFound")
        target.api_version = self.api_version
        return target.workspace_request(method, (match["rest"] or "").strip("/"), query, body)

    def workspace_request(self, method: str, rest: str, query: dict, body):
        """A request to this workspace's resource or below it (`rest`: the path after it)."""
        if rest == "" and method == "GET":
            return 200, self.workspace_resource(), {}
        parts = rest.split("/")
        routes = {"onlineEndpoints": self.route_endpoints, "models": self.route_models, "codes": self.route_codes,
                  "environments": self.route_versioned, "data": self.route_versioned,
                  "components": self.route_versioned,
                  "datastores": self.route_datastores, "jobs": self.route_jobs, "computes": self.route_computes,
                  "schedules": self.route_schedules}
        if parts[0] in routes:
            return routes[parts[0]](method, parts, query, body or {})
        if rest == "providers/Microsoft.Authorization/roleAssignments":
            return self.role_assignments(self.ws_id, query)
        raise ArmError(404, f"{method} {rest} is not emulated", code="NotEmulated")

    def workspace_resource(self) -> dict:
        return {"id": self.ws_id, "name": self.workspace, "location": self.location,
                "type": "Microsoft.MachineLearningServices/workspaces",
                "properties": {"workspaceId": self.workspace_guid, "systemDatastoresAuthMode": "accesskey",
                               "discoveryUrl": f"https://{self.location}.api.azureml.ms/discovery",
                               "mlFlowTrackingUri": f"azureml://{self.location}.api.azureml.ms/mlflow/v1.0"
                                                    f"{self.ws_id}", "provisioningState": "Succeeded"}}

    def operation_status(self, kind: str, op_id: str, path: str):
        operation = self.operations.get(op_id)
        if operation is None:
            raise not_found(f"Operation {op_id} was not found.")
        operation.look()
        if kind == "mfeOperationsStatus":
            return 200, operation.body(path), {}
        return (200, None, {}) if operation.done else (202, {}, {"Location": f"{ARM}{path}"})

    def workspace_services(self, method: str, host: str, path: str, body):
        """The workspace's data-plane services the SDK finds through discovery."""
        if path == "/discovery":
            service = f"https://{host}"
            return 200, {name: service for name in ("api", "catalog", "experimentation", "gallery", "history",
                                                    "hyperdrive", "labeling", "modelmanagement", "pipelines")}, {}
        if path.startswith("/history/"):
            return self.run_history(method, path, body)
        if path.startswith("/data/v1.0/") and path.endswith("/dataversion/batchGetResolvedUris"):
            return self.resolved_uris(body)
        raise not_found(f"service route {path}")

    # -- the server --------------------------------------------------------------------------------

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: do not wait for an ACK

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                try:
                    status, payload, headers = emulator.handle(
                        self.command, self.headers.get("X-Original-Host", ""), split.path, parse_qs(split.query),
                        self.headers, raw)
                except Exception as error:  # an emulator bug answers 500 (never a dropped connection)
                    status, payload, headers = 500, {"error": {"code": "EmulatorBug", "message": repr(error)}}, {}
                emulator.answered.append((self.command, split.path, status))
                # bytes as they are (b"null" where Azure answers a literal null), None as no body
                data = payload if isinstance(payload, bytes) else \
                    b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                emulator.run_hooks(self.command, split.path)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = answer

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        for workspace in self.workspaces:
            workspace.url = f"http://127.0.0.1:{server.server_address[1]}"
        return server, self.url

    def request(self, method: str, path: str, body=None, host: str = "management.azure.com",
                api_version: str = "2025-12-01", token: str | None = None, headers: dict | None = None):
        """A raw request, as a client that is not the SDK sends it (for what the SDK refuses client-side);
        signed as the first registered identity unless `token` is given. -> (status, json or text, headers)"""
        import urllib.error
        import urllib.request

        if token is None:
            identity = next(iter(self.identities.values()))
            token = self._access_token(identity, f"https://{host}" if host != "management.azure.com" else
                                       "https://management.azure.com")[0]
        separator = "&" if "?" in path else "?"
        url = f"{self.url}{path}{separator}api-version={api_version}" if api_version else f"{self.url}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "X-Original-Host": host, "Content-Type": "application/json", **({"Authorization": f"Bearer {token}"}
                                                                            if token else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw, answer_headers = answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            status, raw, answer_headers = error.code, error.read(), dict(error.headers)
        try:
            return status, json.loads(raw) if raw else None, answer_headers
        except ValueError:
            return status, raw.decode(errors="replace"), answer_headers

    def close(self) -> None:
        for workspace in self.workspaces:
            workspace.stop_servers()
            workspace.stop_jobs()


__all__ = ["Emulator", "ArmError", "bad_request"]
