"""A loopback emulator of the Azure ML REST API: the calls azure-ai-ml makes for models, online endpoints
and deployments, and the scoring URI (see shared/azureml-rest.md for the calls, measured).

It is not Azure: it keeps resources in memory, finishes long-running operations at the first poll, and
scores with a function the test gives each deployment (by default, one 0 per input row). Faults can be
injected: an answer for the next matching requests (429, 500, ...), or a deployment whose operation fails.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

ARM = "https://management.azure.com"
WORKSPACE = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                       r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$", re.IGNORECASE)
OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.MachineLearningServices/locations/[^/]+/"
                       r"mfeOperationsStatus/(?P<id>[^/]+)$", re.IGNORECASE)
LOCATION = "eastus"


def zeros(body: dict) -> tuple[int, object]:
    """The default model: a 0 for every input row."""
    rows = body.get("input_data", {}).get("data", []) if isinstance(body, dict) else []
    return 200, [0 for _ in rows]


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    body: dict
    headers: dict
    times: int


@dataclass
class Emulator:
    subscription: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "rg"
    workspace: str = "ws"
    models: dict = field(default_factory=dict)  # name -> {version: resource}
    endpoints: dict = field(default_factory=dict)  # name -> resource
    deployments: dict = field(default_factory=dict)  # (endpoint, name) -> resource
    keys: dict = field(default_factory=dict)  # endpoint -> key
    environments: dict = field(default_factory=dict)  # kind/name:version -> resource (environments, data)
    computes: dict = field(default_factory=lambda: {"cpu-cluster": "AmlCompute"})  # name -> type
    jobs: dict = field(default_factory=dict)  # name -> resource
    schedules: dict = field(default_factory=dict)  # name -> resource
    identities: dict = field(default_factory=dict)  # app (client) id -> {principal, subjects, roles}
    job_statuses: dict = field(default_factory=dict)  # name -> the statuses it goes through, one per GET
    failing_jobs: dict = field(default_factory=dict)  # name or "*" -> (status, code, message)
    operations: dict = field(default_factory=dict)  # id -> status body
    scorers: dict = field(default_factory=dict)  # (endpoint, deployment) -> fn(body) -> (status, json)
    failing_deployments: dict = field(default_factory=dict)  # deployment name -> (code, message)
    faults: list = field(default_factory=list)
    requests: list = field(default_factory=list)  # (method, host, path) of every request
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what tests use ----------------------------------------------------------------------------

    @property
    def ws_id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{self.workspace}")

    def fail_next(self, method: str, path: str, status: int, times: int = 1, body: dict | None = None,
                  headers: dict | None = None) -> None:
        """Answer the next `times` requests whose path matches `path` (a regex) with `status`."""
        self.faults.append(Fault(method, re.compile(path), status, body or {"error": {
            "code": "TooManyRequests" if status == 429 else "InternalServerError", "message": f"injected {status}"}},
            headers or ({"Retry-After": "1"} if status == 429 else {}), times))

    def fail_deployment(self, name: str, code: str = "ImageBuildFailure",
                        message: str = "the deployment's container did not start") -> None:
        """Make the long-running operation of deployment `name` end in Failed."""
        self.failing_deployments[name] = (code, message)

    def calls(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, str]]:
        return [call for call in self.requests if (method is None or call[0] == method) and contains in call[2]]

    # -- resources ---------------------------------------------------------------------------------

    def model_resource(self, name: str, version: str, body: dict) -> dict:
        properties = body.get("properties", {})
        return {"id": f"{self.ws_id}/models/{name}/versions/{version}", "name": version,
                "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
                "properties": {**properties, "flavors": properties.get("flavors") or (
                    {"python_function": {"data": {"loader_module": "mlflow.sklearn"}}}
                    if properties.get("modelType") == "mlflow_model" else {}),
                    "isArchived": False, "provisioningState": "Succeeded"}}

    def endpoint_resource(self, name: str, body: dict) -> dict:
        properties = body.get("properties", {})
        return {"id": f"{self.ws_id}/onlineEndpoints/{name}", "name": name, "location": LOCATION, "kind": "Managed",
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid4()), "tenantId": str(uuid.uuid4())},
                "tags": body.get("tags") or {},
                "properties": {"authMode": properties.get("authMode", "Key"),
                               "description": properties.get("description"),
                               "scoringUri": f"https://{name}.{LOCATION}.inference.ml.azure.com/score",
                               "swaggerUri": f"https://{name}.{LOCATION}.inference.ml.azure.com/swagger.json",
                               "traffic": {k: v for k, v in (properties.get("traffic") or {}).items() if v},
                               "provisioningState": "Succeeded"}}

    def deployment_resource(self, endpoint: str, name: str, body: dict, state: str) -> dict:
        properties = body.get("properties", {})
        for collection in ((properties.get("dataCollector") or {}).get("collections") or {}).values():
            # as the service answers: the mode capitalised, the data asset as an ARM id
            collection["dataCollectionMode"] = str(collection.get("dataCollectionMode", "")).capitalize()
            data = str(collection.get("dataId") or collection.get("data") or "")
            if data.startswith("azureml:"):
                _, asset, version = data.split(":")
                collection["dataId"] = f"{self.ws_id}/data/{asset}/versions/{version}"
        return {"id": f"{self.ws_id}/onlineEndpoints/{endpoint}/deployments/{name}", "name": name,
                "location": LOCATION, "kind": "Managed", "tags": body.get("tags") or {},
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
                "sku": body.get("sku") or {"name": "Default", "capacity": 1},
                "properties": {**properties, "endpointComputeType": "Managed",
                               "scaleSettings": properties.get("scaleSettings") or {"scaleType": "Default"},
                               "provisioningState": state}}

    def operation(self, status: str, error: dict | None = None) -> dict[str, str]:
        """A long-running operation (done at the first poll); its Azure-AsyncOperation header."""
        op_id = str(uuid.uuid4())
        self.operations[op_id] = {"status": status, **({"error": error} if error else {})}
        url = (f"{ARM}/subscriptions/{self.subscription}/providers/Microsoft.MachineLearningServices/locations/"
               f"{LOCATION}/mfeOperationsStatus/{op_id}")
        return {"Azure-AsyncOperation": url, "Location": url, "Retry-After": "1"}

    # -- requests ----------------------------------------------------------------------------------

    def handle(self, method: str, host: str, path: str, query: dict, headers, body: dict | None):
        """-> (status, json body or None, headers)"""
        self.requests.append((method, host, path))
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path.search(path):
                fault.times -= 1
                return fault.status, fault.body, fault.headers
        if host.endswith(".inference.ml.azure.com"):
            return self.score(host.split(".")[0], headers, body)
        if host.endswith(".api.azureml.ms"):
            return self.workspace_services(host, path)
        if host == "graph.microsoft.com":
            return self.graph(path)
        if match := OPERATION.match(path):
            found = self.operations.get(match["id"])
            return (200, found, {}) if found else self.missing("operation", match["id"])
        match = WORKSPACE.match(path)
        if not match or match["ws"] != self.workspace:
            return self.missing("resource", path)
        rest = match["rest"] or ""
        if rest == "" and method == "GET":
            return 200, {"id": self.ws_id, "name": self.workspace, "location": LOCATION,
                         "properties": {"discoveryUrl": f"https://{LOCATION}.api.azureml.ms/discovery"}}, {}
        return self.route(method, rest, query, body or {})

    def missing(self, what: str, name: str):
        return 404, {"error": {"code": "ResourceNotFound", "message": f"{what} {name} not found"}}, {}

    def route(self, method: str, rest: str, query: dict, body: dict):
        parts = rest.strip("/").split("/")
        if parts[0] == "providers" and parts[1:] == ["Microsoft.Authorization", "roleAssignments"]:
            return self.role_assignments(query)
        if parts[0] == "models":
            return self.route_models(method, parts[1:], query, body)
        if parts[0] == "onlineEndpoints":
            return self.route_endpoints(method, parts[1:], body)
        if parts[0] == "computes" and len(parts) == 2 and method == "PUT":
            self.computes[parts[1]] = body.get("properties", {}).get("computeType", "AmlCompute")
            return 201, {"id": f"{self.ws_id}/computes/{parts[1]}", "name": parts[1], "location": LOCATION,
                         "properties": {**body.get("properties", {}), "provisioningState": "Succeeded"}}, \
                self.operation("Succeeded")
        if parts[0] == "computes" and len(parts) == 2 and method == "GET":
            if parts[1] not in self.computes:
                return self.missing("compute", parts[1])
            return 200, {"id": f"{self.ws_id}/computes/{parts[1]}", "name": parts[1], "location": LOCATION,
                         "properties": {"computeType": self.computes[parts[1]], "provisioningState": "Succeeded",
                                        "properties": {"vmSize": "STANDARD_DS3_V2"}}}, {}
        if parts[0] == "schedules" and len(parts) == 2 and method in ("GET", "PUT"):
            if method == "PUT":
                self.schedules[parts[1]] = {"id": f"{self.ws_id}/schedules/{parts[1]}", "name": parts[1],
                                            "properties": {**body.get("properties", {}),
                                                           "provisioningState": "Succeeded"}}
                return 201, self.schedules[parts[1]], self.operation("Succeeded")
            found = self.schedules.get(parts[1])
            return (200, found, {}) if found else self.missing("schedule", parts[1])
        if parts[0] == "jobs" and len(parts) >= 2:
            return self.route_jobs(method, parts[1], parts[2:], body)
        if parts[0] in ("environments", "data") and len(parts) == 4 and method in ("GET", "PUT"):
            return self.route_environment(method, f"{parts[0]}/{parts[1]}", parts[3], body)
        return 404, {"error": {"code": "NotEmulated", "message": f"{method} {rest} is not emulated"}}, {}

    def route_models(self, method, parts, query, body):
        name = parts[0]
        versions = self.models.get(name, {})
        if len(parts) == 1 and method == "GET":
            if not versions:
                return self.missing("model", name)
            return 200, {"id": f"{self.ws_id}/models/{name}", "name": name,
                         "properties": {"nextVersion": str(max(map(int, versions)) + 1)}}, {}
        if len(parts) == 2 and method == "GET":  # list versions
            ordered = sorted(versions.values(), key=lambda v: int(v["name"]), reverse=True)
            if "$top" in query:
                ordered = ordered[:int(query["$top"][0])]
            return 200, {"value": ordered}, {}
        version = parts[2]
        if method == "GET":
            return (200, versions[version], {}) if version in versions else self.missing("model version", version)
        if method == "PUT":
            resource = self.model_resource(name, version, body)
            self.models.setdefault(name, {})[version] = resource
            return 200, resource, {}
        return self.missing("route", "/".join(parts))

    def route_environment(self, method, name, version, body):
        """A versioned asset the SDK creates on its own: an environment (for an inline environment in a
        deployment file) or a data asset (for a deployment's data collection). `name` is kind/name."""
        key = f"{name}:{version}"
        if method == "PUT":
            self.environments[key] = {"id": f"{self.ws_id}/{name}/versions/{version}",
                                      "name": version, "properties": body.get("properties", {})}
        found = self.environments.get(key)
        return (200, found, {}) if found else self.missing("environment", key)

    def fail_job(self, status: str = "Failed", code: str = "UserError",
                 message: str = "Execution failed: train.py exited with 1", name: str = "*") -> None:
        """Make job `name` (every job, by default) end with `status`."""
        self.failing_jobs[name] = (status, code, message)

    def route_jobs(self, method, name, rest, body):
        """Command jobs: each GET moves a job one status on (Queued, Running, then its end)."""
        if method == "PUT":
            ending = self.failing_jobs.get(name) or self.failing_jobs.get("*")
            self.job_statuses[name] = ["Queued", "Running", ending[0] if ending else "Completed"]
            properties = {**body.get("properties", {}), "status": "NotStarted", "services": {"Studio": {
                "endpoint": f"https://ml.azure.com/runs/{name}?wsid={self.ws_id}", "jobServiceType": "Studio"}}}
            self.jobs[name] = {"id": f"{self.ws_id}/jobs/{name}", "name": name, "properties": properties}
            return 201, self.jobs[name], {}
        if name not in self.jobs:
            return self.missing("job", name)
        if method == "POST" and rest == ["cancel"]:
            self.job_statuses[name] = ["Canceled"]
            return 202, None, self.operation("Succeeded")
        if method == "GET" and not rest:
            statuses = self.job_statuses[name]
            self.jobs[name]["properties"]["status"] = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            return 200, self.jobs[name], {}
        return self.missing("route", "/".join(rest))

    def graph(self, path: str):
        """Microsoft Graph, for the workflow identity's federated credentials and service principal."""
        match = re.match(r"^/v1\.0/(?P<kind>applications|servicePrincipals)\(appId='(?P<app>[^']+)'\)"
                         r"(?P<rest>/federatedIdentityCredentials)?$", path)
        if not match or match["app"] not in self.identities:
            return 404, {"error": {"code": "Request_ResourceNotFound", "message": f"{path} not found"}}, {}
        identity = self.identities[match["app"]]
        if match["rest"]:
            return 200, {"value": [{"name": f"credential{i}", "subject": subject,
                                    "issuer": "https://token.actions.githubusercontent.com"}
                                   for i, subject in enumerate(identity["subjects"])]}, {}
        return 200, {"id": identity["principal"], "appId": match["app"]}, {}

    def role_assignments(self, query: dict):
        principal = re.search(r"assignedTo\('([^']+)'\)", query.get("$filter", [""])[0])
        roles = next((i["roles"] for i in self.identities.values() if principal and i["principal"] == principal[1]),
                     [])
        return 200, {"value": [{"properties": {"principalId": principal[1], "scope": self.ws_id, "roleDefinitionId":
                                               f"/subscriptions/{self.subscription}/providers/Microsoft.Authorization/"
                                               f"roleDefinitions/{role}"}} for role in roles]}, {}

    def workspace_services(self, host: str, path: str):
        """The workspace's data-plane services the SDK finds through discovery; here the run history, where a
        job's error is recorded."""
        if path == "/discovery":
            service = f"https://{host}"
            return 200, {name: service for name in ("api", "catalog", "experimentation", "gallery", "history",
                                                    "hyperdrive", "labeling", "modelmanagement", "pipelines")}, {}
        match = re.search(r"/runs/(?P<run>[^/]+)/details$", path)
        if path.startswith("/history/") and match and match["run"] in self.jobs:
            name = match["run"]
            status = self.jobs[name]["properties"]["status"]
            ending = self.failing_jobs.get(name) or self.failing_jobs.get("*")
            error = {"error": {"code": ending[1], "message": ending[2]}} if ending and status == ending[0] else None
            return 200, {"runId": name, "status": status, **({"error": error} if error else {})}, {}
        return self.missing("service route", path)

    def route_endpoints(self, method, parts, body):
        name = parts[0]
        endpoint = self.endpoints.get(name)
        if len(parts) == 1:
            if method == "GET":
                return (200, endpoint, {}) if endpoint else self.missing("endpoint", name)
            if method == "PUT":
                self.endpoints[name] = self.endpoint_resource(name, body)
                self.keys.setdefault(name, uuid.uuid4().hex + uuid.uuid4().hex)
                return 201, self.endpoints[name], self.operation("Succeeded")
            if method == "DELETE":
                self.endpoints.pop(name, None)
                return 202, None, self.operation("Succeeded")
        if endpoint is None:
            return self.missing("endpoint", name)
        if parts[1] == "listKeys" and method == "POST":
            return 200, {"primaryKey": self.keys[name], "secondaryKey": self.keys[name][::-1]}, {}
        if parts[1] == "deployments":
            return self.route_deployments(method, name, parts[2:], body)
        return self.missing("route", "/".join(parts))

    def route_deployments(self, method, endpoint, parts, body):
        if not parts and method == "GET":
            return 200, {"value": [d for (e, _), d in self.deployments.items() if e == endpoint]}, {}
        name = parts[0]
        key = (endpoint, name)
        if len(parts) == 2 and parts[1] == "getLogs":
            return 200, {"content": f"logs of {name}"}, {}
        if method == "GET":
            return (200, self.deployments[key], {}) if key in self.deployments else self.missing("deployment", name)
        if method == "PUT":
            failing = self.failing_deployments.get(name)
            state = "Failed" if failing else "Succeeded"
            self.deployments[key] = self.deployment_resource(endpoint, name, body, state)
            error = {"code": failing[0], "message": failing[1]} if failing else None
            return 201, self.deployments[key], self.operation(state if not failing else "Failed", error)
        if method == "DELETE":
            self.deployments.pop(key, None)
            traffic = self.endpoints[endpoint]["properties"]["traffic"]
            traffic.pop(name, None)
            return 202, None, self.operation("Succeeded")
        return self.missing("route", "/".join(parts))

    def score(self, endpoint: str, headers, body):
        if endpoint not in self.endpoints:
            return 404, {"error": "no such endpoint"}, {}
        if headers.get("Authorization") != f"Bearer {self.keys[endpoint]}":
            return 401, {"error": "invalid key"}, {}
        deployment = headers.get("azureml-model-deployment")
        if not deployment:
            traffic = self.endpoints[endpoint]["properties"]["traffic"]
            live = [(name, share) for name, share in traffic.items() if share > 0]
            if not live:
                return 404, {"error": "no deployment takes traffic"}, {}
            deployment = max(live, key=lambda item: item[1])[0]
        if (endpoint, deployment) not in self.deployments:
            return 404, {"error": f"no deployment {deployment}"}, {}
        status, answer = self.scorers.get((endpoint, deployment), zeros)(body)
        return status, answer, {"azureml-model-deployment": deployment}

    # -- the server --------------------------------------------------------------------------------

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: do not wait for an ACK

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                split = urlsplit(self.path)
                with emulator.lock:
                    status, payload, headers = emulator.handle(
                        self.command, self.headers.get("X-Original-Host", ""), split.path, parse_qs(split.query),
                        self.headers, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = answer

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


Scorer = Callable[[dict], tuple[int, object]]
