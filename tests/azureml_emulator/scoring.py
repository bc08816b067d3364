"""Serving: a deployment's uploaded code and model files run in Azure's own inference server
(azureml-inference-server-http, as Azure ML's containers run it), and the scoring URI routes requests to
the deployments as the service does.

Sources:
- learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints, "Common error codes for
  managed online endpoints": 401 "You don't have permission to do the requested action, such as score, or
  your token is expired or in the wrong format"; 404 "The endpoint doesn't have any valid deployment with
  positive weight"; 408 "The model execution took longer than the timeout supplied in request_timeout_ms";
  424 "If your model container returns a non-200 response, Azure returns a 424" (with the headers
  ms-azureml-model-error-statuscode and ms-azureml-model-error-reason); 429 "Azure Machine Learning permits a
  maximum of 2 * max_concurrent_requests_per_instance * instance_count requests to process in parallel at
  any given time. Requests that exceed this maximum are rejected."; ResourceNotReady "User container has
  crashed or terminated" when the container does not start.
- how-to-safely-rollout-online-endpoints: a deployment receiving 40% of the traffic gets 40% of the requests;
  "set the following HTTP header: azureml-model-deployment: <deployment-name>" to reach one deployment
  (even at 0%); mirrored traffic "doesn't change the results returned to clients", and a request naming a
  deployment is not mirrored.
- how-to-authenticate-online-endpoint: the key, an Azure ML token or a Microsoft Entra token (audience
  https://ml.azure.com) goes in the Authorization header as a bearer token; "A key doesn't expire, but a
  token does expire."
- Recording online_services/...test_online_deployment: a scored answer carries azureml-model-deployment.
- The layout of a model in the container, AZUREML_MODEL_DIR/<registered folder>/... (or the file itself at
  its root), as azureml-examples' score.py files read it (cli/endpoints/online/model-1/onlinescoring/score.py:
  os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl")).

Not emulated: Azure's no-code MLflow scoring; a test gives an MLflow deployment's answers as a function
(`scorers`), by default one 0 per input row.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from azureml_emulator.endpoints import seconds
from azureml_emulator.identity import jwt_claims
from azureml_emulator.storage import free_port


def zeros(body: object) -> tuple[int, object]:
    """The default answer of an MLflow deployment: a 0 for every input row."""
    rows = body.get("input_data", {}).get("data", []) if isinstance(body, dict) else []
    return 200, [0 for _ in rows]


@dataclass
class Server:
    """Azure's inference server for one deployment, started in the background."""

    folder: Path
    process: subprocess.Popen | None = None
    port: int = 0
    state: str = "starting"  # starting, ready, failed
    reason: str = ""
    log: Path = field(init=False)

    def __post_init__(self):
        self.log = self.folder / "inference-server.log"


class ScoringService:
    """The mixin of the emulator for serving and scoring."""

    def _scoring_state(self) -> None:
        self.scorers: dict[tuple[str, str], object] = {}  # (endpoint, deployment) -> fn(body) -> (status, json)
        self.servers: dict[tuple[str, str], Server] = {}  # serving
        self.starting: dict[tuple[str, str], Server] = {}  # a deployment's new container, while it is created
        self.in_flight: dict[tuple[str, str], int] = {}
        self.scored: list[tuple[str, str, int]] = []  # (endpoint, deployment, status) of every request
        self.mirrored: list[tuple[str, str]] = []  # (endpoint, deployment) of every mirrored copy
        self.client_request_ids: list[str] = []  # x-ms-client-request-id of every scoring request that had one
        self.scratch = Path(tempfile.mkdtemp(prefix="azureml-emulator-"))

    # -- deployments' containers -------------------------------------------------------------------

    def provision(self, key: tuple[str, str], resource: dict, model: dict | None, code: dict | None) -> None:
        """Start the deployment's container when it has code (a custom model) of its own: its model and code
        laid out as the container sees them, then Azure's inference server, in the background (the files
        are read outside the emulator's lock). A deployment being updated keeps serving from its old
        container until the update succeeds (promote)."""
        self.discard_starting(key)
        if not code:
            return
        folder = self.scratch / "-".join(key) / time.strftime("%H%M%S") / os.urandom(3).hex()
        server = self.starting[key] = Server(folder)
        variables = resource["properties"]["environmentVariables"]
        uris = (model["properties"]["modelUri"] if model else "", self.code_of(code["codeId"])["properties"]["codeUri"])
        threading.Thread(target=self._lay_out_and_start, args=(server, uris, variables, code["scoringScript"]),
                         daemon=True).start()

    def _lay_out_and_start(self, server: Server, uris: tuple[str, str], variables: dict, script: str) -> None:
        model_dir, app = server.folder / "azureml-models", server.folder / "app"
        model_dir.mkdir(parents=True)
        app.mkdir()
        if uris[0]:
            self.download(uris[0], model_dir)
        self.download(uris[1], app)
        app_root = app / Path(variables.get("AML_APP_ROOT", "")).name
        environment = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
                       "HOME": str(server.folder), "LANG": "C.UTF-8", **variables,
                       "AZUREML_MODEL_DIR": str(model_dir), "AML_APP_ROOT": str(app_root),
                       "AZUREML_ENTRY_SCRIPT": script}
        self._start_server(server, app_root, environment)

    def promote(self, key) -> None:
        """The update succeeded: its container replaces the old one."""
        self.stop_server(key)
        if key in self.starting:
            self.servers[key] = self.starting.pop(key)

    def discard_starting(self, key) -> None:
        server = self.starting.pop(key, None)
        if server:
            stop(server)

    def _start_server(self, server: Server, app_root: Path, environment: dict) -> None:
        server.port = free_port()
        try:
            with open(server.log, "ab") as log:
                server.process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{server.port}", "--no-control-socket",
                     "-w", "1", "--timeout", "300", "azureml_inference_server_http.server.entry:app"],
                    cwd=app_root if app_root.is_dir() else server.folder, env=environment, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as error:
            server.state, server.reason = "failed", str(error)
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.state == "starting":
            if server.process.poll() is not None:
                server.state = "failed"
                server.reason = f"exited with {server.process.returncode}"
                return
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=2) as answer:
                    if answer.status == 200:
                        server.state = "ready"
                        return
            except OSError:
                time.sleep(0.1)
        if server.state == "starting":
            server.state, server.reason = "failed", "did not answer within 60 s"

    def server_settled(self, key) -> bool:
        server = self.starting.get(key)
        return server is None or server.state != "starting"

    def provisioning_error(self, key) -> dict | None:
        server = self.starting.get(key)
        if server is None or server.state != "failed":
            return None
        return {"code": "ResourceNotReady", "message": f"User container has crashed or terminated: the inference "
                f"server {server.reason}. Logs:\n{tail(server.log)}"}

    def deployment_logs(self, key, lines: int | None) -> str:
        server = self.servers.get(key) or self.starting.get(key)
        logs = tail(server.log, lines or 100) if server else "(no container logs: an MLflow deployment's "\
            "scoring is not emulated)"
        return f"Instance status:\nSystemSetup: Succeeded\nUserContainerImagePull: Succeeded\nModelDownload: " \
               f"Succeeded\nUserContainerStart: {'Succeeded' if not server or server.state == 'ready' else 'Failed'}" \
               f"\n\nContainer logs:\n{logs}"

    def stop_server(self, key) -> None:
        server = self.servers.pop(key, None)
        if server:
            stop(server)

    def stop_servers(self) -> None:
        for key in list(self.servers):
            self.stop_server(key)
        for key in list(self.starting):
            self.discard_starting(key)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- the data plane ----------------------------------------------------------------------------

    def score(self, endpoint_name: str, path: str, headers, raw: bytes):
        with self.lock:
            if headers.get("x-ms-client-request-id"):
                self.client_request_ids.append(headers["x-ms-client-request-id"])
            endpoint = self.endpoints.get(endpoint_name)
            # created (it has a scoring URI) and not being deleted: an endpoint being updated keeps serving
            if endpoint is None or not endpoint["properties"].get("scoringUri") or path != "/score" or \
                    endpoint["properties"].get("provisioningState") == "Deleting":
                return 404, {"message": f"No endpoint {endpoint_name}{'' if path == '/score' else path} here."}, {}
            refused = self.refuse_caller(endpoint_name, endpoint, headers.get("Authorization", ""))
            if refused:
                return refused
            target = headers.get("azureml-model-deployment")
            if target:
                name = next((d for (e, d) in self.deployments if e == endpoint_name and d.lower() == target.lower()),
                            None)
                if name is None:
                    return 404, {"message": f"Deployment {target} does not exist in endpoint {endpoint_name}."}, {}
            else:
                name = self.deployment_named(endpoint_name, self.pick(endpoint["properties"]["traffic"]))
                if name is None:
                    return 404, {"message": "The endpoint doesn't have any valid deployment with positive weight."}, {}
            mirror = None if target else self.deployment_named(
                endpoint_name, self.pick_mirror(endpoint["properties"]["mirrorTraffic"]))
            key = (endpoint_name, name)
            deployment = self.deployments[key]
            limit = 2 * deployment["properties"]["requestSettings"]["maxConcurrentRequestsPerInstance"] * \
                deployment["sku"]["capacity"]
            if self.in_flight.get(key, 0) >= limit:
                self.scored.append((endpoint_name, name, 429))
                return 429, {"message": f"Too many pending requests: at most {limit} in parallel for deployment "
                             f"{name} (2 x max_concurrent_requests_per_instance x instance_count)."}, \
                    {"azureml-model-deployment": name}
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            timeout = seconds(deployment["properties"]["requestSettings"]["requestTimeout"])
        try:
            status, answer, extra = self.run_model(key, raw, timeout)
        finally:
            with self.lock:
                self.in_flight[key] -= 1
        if mirror:
            self.mirrored.append((endpoint_name, mirror))
            self.run_model((endpoint_name, mirror), raw, timeout)  # its answer goes nowhere
        with self.lock:
            self.scored.append((endpoint_name, name, status))
        return status, answer, {"azureml-model-deployment": name, **extra}

    def refuse_caller(self, endpoint_name: str, endpoint: dict, authorization: str):
        mode = endpoint["properties"]["authMode"].lower()
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        if mode == "key":
            allowed = bool(token) and token in self.keys.get(endpoint_name, ())
        elif mode == "amltoken":
            issued = self.endpoint_tokens.get(token)
            allowed = bool(issued) and issued[0] == endpoint_name and issued[1] > self.now()
        else:  # AADToken: an Entra token for Azure ML's data plane
            try:
                self.check_token({"Authorization": authorization}, "ml.azure.com")
                allowed = (jwt_claims(token) or {}).get("aud") == "https://ml.azure.com"
            except Exception:  # noqa: BLE001 - any refusal of the token is a 401 here
                allowed = False
        if allowed:
            return None
        return 401, {"message": "You don't have permission to do the requested action, or your token is expired "
                     "or in the wrong format."}, {"WWW-Authenticate": "Bearer"}

    def deployment_named(self, endpoint: str, name: str | None) -> str | None:
        """A deployment by its name in a traffic split (which the service keeps in lower case)."""
        return next((d for (e, d) in self.deployments if e == endpoint and name and d.lower() == name.lower()), None)

    def pick(self, traffic: dict[str, int]) -> str | None:
        """A deployment drawn at random, weighted by its share of the traffic."""
        live = [(name, share) for name, share in traffic.items() if share > 0]
        if not live:
            return None
        draw = self.random.uniform(0, sum(share for _, share in live))
        for name, share in live:
            draw -= share
            if draw <= 0:
                return name
        return live[-1][0]

    def pick_mirror(self, mirror: dict[str, int]) -> str | None:
        for name, share in mirror.items():
            if share and self.random.uniform(0, 100) < share:
                return name
        return None

    def run_model(self, key, raw: bytes, timeout: float) -> tuple[int, object, dict]:
        """The deployment's answer: its server's, or the test's function for an MLflow deployment; a model
        that fails is a 424, one slower than request_timeout a 408."""
        server = self.servers.get(key)
        if server is not None:
            if server.state != "ready":
                return 503, {"message": f"Deployment {key[1]} is not ready."}, {}
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}/score", data=raw, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    return 200, answer.read(), {}
            except urllib.error.HTTPError as error:
                return model_error(error.code, error.read().decode(errors="replace"))
            except (TimeoutError, urllib.error.URLError) as error:
                if "timed out" in str(error):
                    return request_timeout(timeout)
                return 502, {"message": f"the model's server did not answer: {error}"}, {}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        result: list = []
        worker = threading.Thread(target=lambda: result.append(self.scorers.get(key, zeros)(body)), daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            return request_timeout(timeout)
        if not result:
            return model_error(500, "the scoring function raised")
        status, answer = result[0]
        return (200, answer, {}) if status == 200 else model_error(status, json.dumps(answer))


def stop(server: Server) -> None:
    if server.process and server.process.poll() is None:
        try:
            os.killpg(server.process.pid, 15)
            server.process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.process.pid, 9)


def model_error(status: int, reason: str) -> tuple[int, object, dict]:
    return 424, {"message": f"An unexpected error occurred in scoring script. Check the logs for more info. "
                 f"(model status {status})", "model_response": reason[:1000]}, {
        "ms-azureml-model-error-statuscode": str(status), "ms-azureml-model-error-reason": "model_error"}


def request_timeout(timeout: float) -> tuple[int, object, dict]:
    return 408, {"message": f"Request timed out after {timeout * 1000:.0f} ms (request_timeout_ms)."}, {}


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
