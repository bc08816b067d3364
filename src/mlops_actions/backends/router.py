"""A local endpoint's front door: one stable URL on 127.0.0.1 that routes each request to a deployment.

As an Azure ML managed online endpoint does: key authentication (Authorization: Bearer <key>), traffic
split by weight, the `azureml-model-deployment` header to reach one deployment (even at 0%), and the
answering deployment named in the response's `azureml-model-deployment` header, and mirrored traffic (a
share of the requests not naming a deployment is copied to the mirror deployment, whose answer goes
nowhere); a deployment that answers other than 200 is a 424 (its status in ms-azureml-model-error-statuscode),
one slower than its request_timeout_ms a 408, more requests in parallel than it admits a 429. It rereads the
endpoint's record when it changes, so traffic moves without a restart. Every scored
request is logged, with its data, to requests.jsonl beside the record (what the monitor reads; data
collection, locally); mirrored copies are marked as such. Clients' connections are kept alive (HTTP/1.1);
upstream, each request opens the deployment's unix socket anew: Azure's inference server runs gunicorn's sync
worker, which "does not support persistent connections" and closes each one after its response (gunicorn's
documentation, Design), so there is no connection to reuse (bench/run.py measures the cost: docs/benchmarks.md, 5).

    python -m mlops_actions.backends.router ENDPOINT_JSON
"""

from __future__ import annotations

import hmac
import http.client
import json
import os
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlops_actions.backends.processes import UnixHTTPConnection

FORWARDED = ("Content-Type", "Accept")
MAX_BODY = 32 << 20  # bytes of a request the router accepts
MAX_LINE = 1024  # bytes of a chunk-size or trailer line, its line ending included
# chunk-size [ chunk-ext ] CRLF, the size in hex digits alone (RFC 9112, 7.1: no sign, 0x or inner space), leading
# zeros any number
CHUNK_SIZE = re.compile(rb"0*([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
CLIENT_TIMEOUT = 60  # seconds a client may take to send its request
UPSTREAM_TIMEOUT = 120  # seconds a deployment may take to answer, unless its request_timeout_ms says otherwise
PROBE = "mlops-actions-probe"  # the header smoke tests send
LOGGED_BYTES = 1 << 20  # requests up to this size are kept, with their data, for the monitor
ROTATE_BYTES = 64 << 20  # requests.jsonl moves to requests.jsonl.1 (the one before is dropped) at this size


class RequestLog:
    """requests.jsonl beside the endpoint's record: one line per scored request. A log that cannot be written
    (a full disk, a read-only folder) costs one warning in the router's log: requests are still answered."""

    def __init__(self, path: Path, rotate_bytes: int = ROTATE_BYTES):
        self.path, self.lock, self.rotate_bytes, self.warned = path, threading.Lock(), rotate_bytes, False

    def add(self, deployment: str, status: int, milliseconds: float, body: bytes, probe: bool,
            mirrored: bool = False) -> None:
        entry = {"time": time.time(), "deployment": deployment, "status": status, "ms": round(milliseconds, 3)}
        if probe:  # a smoke test's request: not the population the endpoint serves
            entry["probe"] = True
        if mirrored:  # a copy of a request another deployment answered
            entry["mirror"] = True
        if len(body) <= LOGGED_BYTES:
            try:
                data = json.loads(body).get("input_data")
                if isinstance(data, dict) and isinstance(data.get("data"), list):
                    entry.update(columns=data.get("columns"), rows=data["data"])
            except (ValueError, AttributeError):
                pass
        line = json.dumps(entry) + "\n"
        with self.lock:
            try:
                if self.path.is_file() and self.path.stat().st_size + len(line) > self.rotate_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                with os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as out:
                    out.write(line)  # one write of a whole line: a reader never sees half of one
            except OSError as error:
                if not self.warned:
                    self.warned = True
                    sys.stderr.write(f"router: cannot write {self.path} ({error}): requests are answered but no "
                                     "longer logged for the monitor\n")


class Record:
    """The endpoint's JSON record, reloaded when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self.stamp: int | None = None
        self.data: dict = {}

    def get(self) -> dict:
        stamp = self.path.stat().st_mtime_ns
        if stamp != self.stamp:
            self.data, self.stamp = json.loads(self.path.read_text()), stamp
        return self.data


def choose(record: dict, asked: str | None) -> tuple[str | None, str]:
    """The deployment to send a request to, or None and why not."""
    deployments = record.get("deployments", {})
    if asked:
        return (asked, "") if asked in deployments else (None, f"no deployment named {asked!r}")
    weighted = [(name, share) for name, share in record.get("traffic", {}).items()
                if share > 0 and name in deployments]
    if not weighted:
        return None, "no deployment takes traffic"
    names, shares = zip(*weighted)
    return random.choices(names, weights=shares)[0], ""


def mirror_of(record: dict) -> str | None:
    """The deployment a request is copied to, drawn by the mirror's share, if any."""
    for name, share in (record.get("mirror") or {}).items():
        if share and name in record.get("deployments", {}) and random.uniform(0, 100) < share:
            return name
    return None


class InFlight:
    """Requests being scored, per deployment, held to Azure ML's limit when the deployment file sets
    request_settings.max_concurrent_requests_per_instance: "a maximum of 2 * max_concurrent_requests_per_instance
    * instance_count requests to process in parallel at any given time. Requests that exceed this maximum are
    rejected" with 429 (learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints)."""

    def __init__(self):
        self.lock, self.counts = threading.Lock(), {}

    @staticmethod
    def limit(deployment: dict) -> int | None:
        per_instance = deployment.get("max_concurrent_requests_per_instance")
        return 2 * per_instance * deployment.get("instance_count", 1) if per_instance else None

    def enter(self, name: str, limit: int | None) -> bool:
        with self.lock:
            if limit is not None and self.counts.get(name, 0) >= limit:
                return False
            self.counts[name] = self.counts.get(name, 0) + 1
            return True

    def leave(self, name: str) -> None:
        with self.lock:
            self.counts[name] -= 1


def timeout_ms(deployment: dict) -> int:
    return deployment.get("request_timeout_ms", UPSTREAM_TIMEOUT * 1000)


def forward(deployment: dict, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    """Send a request to a deployment's server: on its unix socket (or, in a record an older version wrote,
    its port), waiting at most its request_timeout_ms (a TimeoutError after that)."""
    timeout = timeout_ms(deployment) / 1000
    upstream = UnixHTTPConnection(deployment["socket"], timeout) if "socket" in deployment else \
        http.client.HTTPConnection("127.0.0.1", deployment["port"], timeout=timeout)
    try:
        upstream.request("POST", "/score", body=body, headers=headers)
        response = upstream.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "application/json")
    finally:
        upstream.close()


def read_chunked(stream, limit: int) -> bytes | tuple[int, str]:
    """A chunked request body (RFC 9112, 7.1), read while it stays within `limit` bytes; else (status, why). A
    size or trailer line longer than MAX_LINE is refused whole: read in parts, its rest would be taken for data."""
    body = bytearray()
    while True:
        found = CHUNK_SIZE.fullmatch(stream.readline(MAX_LINE))
        if not found:
            return 400, "malformed chunked body"
        size = int(found[1], 16)
        if size == 0:
            while (line := stream.readline(MAX_LINE)) not in (b"\r\n", b"\n"):  # trailer fields, to the blank line
                if not line.endswith(b"\n"):
                    return 400, "malformed chunked body"
            return bytes(body)
        if len(body) + size > limit:
            return 413, f"send a body of at most {limit} bytes"
        chunk = stream.read(size)
        if len(chunk) < size or stream.readline(MAX_LINE) not in (b"\r\n", b"\n"):
            return 400, "malformed chunked body"
        body += chunk


def handler_for(record: Record, log: RequestLog):
    in_flight = InFlight()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: do not wait for an ACK between them
        timeout = CLIENT_TIMEOUT  # a client that stops sending is dropped, not waited for

        def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def error(self, status: int, message: str) -> None:
            self.reply(status, json.dumps({"error": message}).encode())

        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path in ("/", "/health"):
                self.reply(200, b"Healthy", {"Content-Type": "text/plain"})
            else:
                self.error(404, f"no route {self.path}")

        def do_POST(self):  # noqa: N802
            data = record.get()
            given = self.headers.get("Authorization", "")  # the key first: a stranger's body is never read
            if not hmac.compare_digest(given.encode(), f"Bearer {data.get('key', '')}".encode()):
                self.close_connection = True
                return self.error(401, "missing or wrong key: send Authorization: Bearer <endpoint key>")
            if self.path.split("?")[0] != "/score":
                self.close_connection = True
                return self.error(404, f"no route {self.path}; POST /score")
            length = self.headers.get("Content-Length", "")
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = read_chunked(self.rfile, MAX_BODY)
                if not isinstance(body, bytes):
                    self.close_connection = True
                    return self.error(*body)
            elif not length.isdigit() or int(length) > MAX_BODY:
                self.close_connection = True
                return self.error(413 if length.isdigit() else 411, f"send a Content-Length (or a chunked body) of "
                                  f"at most {MAX_BODY} bytes")
            else:
                body = self.rfile.read(int(length))
            asked = self.headers.get("azureml-model-deployment")
            name, why = choose(data, asked)
            if name is None:
                return self.error(404, why)
            started, probe = time.perf_counter(), bool(self.headers.get(PROBE))
            headers = {key: self.headers[key] for key in FORWARDED if self.headers.get(key)}
            mirror = None if asked else mirror_of(data)
            if mirror:
                threading.Thread(target=self.mirror, args=(data, mirror, body, headers, probe), daemon=True).start()
            deployment = data["deployments"][name]
            limit = InFlight.limit(deployment)
            if not in_flight.enter(name, limit):
                log.add(name, 429, (time.perf_counter() - started) * 1000, body, probe)
                return self.error(429, f"too many requests in parallel for deployment {name}: at most {limit} "
                                  "(2 x max_concurrent_requests_per_instance x instance_count)")
            try:
                status, answer, content_type = forward(deployment, body, headers)
            except TimeoutError:
                log.add(name, 408, (time.perf_counter() - started) * 1000, body, probe)
                return self.error(408, f"deployment {name} took longer than request_timeout_ms "
                                  f"({timeout_ms(deployment)} ms)")
            except (OSError, http.client.HTTPException) as exc:
                log.add(name, 502, (time.perf_counter() - started) * 1000, body, probe)
                return self.error(502, f"deployment {name} did not answer: {exc}")
            finally:
                in_flight.leave(name)
            reply_headers = {"Content-Type": content_type, "azureml-model-deployment": name}
            if status != 200:  # "If your model container returns a non-200 response, Azure returns a 424" with the
                # model's status and reason in headers (how-to-troubleshoot-online-endpoints)
                answer = json.dumps({"message": "An unexpected error occurred in scoring script. Check the logs for "
                                     f"more info. (model status {status})",
                                     "model_response": answer.decode(errors="replace")[:1000]}).encode()
                reply_headers.update({"Content-Type": "application/json", "ms-azureml-model-error-statuscode":
                                      str(status), "ms-azureml-model-error-reason": "model_error"})
                status = 424
            log.add(name, status, (time.perf_counter() - started) * 1000, body, probe)
            self.reply(status, answer, reply_headers)

        def mirror(self, data: dict, name: str, body: bytes, headers: dict[str, str], probe: bool) -> None:
            started = time.perf_counter()
            try:
                status = forward(data["deployments"][name], body, headers)[0]
            except OSError:
                status = 502
            log.add(name, status, (time.perf_counter() - started) * 1000, body, probe, mirrored=True)

        def log_message(self, format, *args):  # one line per request, on stderr (the router's log)
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))

    return Handler


def main(argv: list[str] | None = None) -> None:
    [path] = argv if argv is not None else sys.argv[1:]
    record = Record(Path(path))
    log = RequestLog(Path(path).with_name("requests.jsonl"))
    ThreadingHTTPServer.request_queue_size = 256  # connections waiting to be accepted under load
    server = ThreadingHTTPServer(("127.0.0.1", record.get()["port"]), handler_for(record, log))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
