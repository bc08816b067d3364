"""A local endpoint's front door: one stable URL on 127.0.0.1 that routes each request to a deployment.

As an Azure ML managed online endpoint does: key authentication (Authorization: Bearer <key>), traffic
split by weight, the `azureml-model-deployment` header to reach one deployment (even at 0%), and the
answering deployment named in the response's `azureml-model-deployment` header. It rereads the
endpoint's record when it changes, so traffic moves without a restart. Every scored request is logged,
with its data, to requests.jsonl beside the record (what the monitor reads; data collection, locally).

    python -m mlops_actions.backends.router ENDPOINT_JSON
"""

from __future__ import annotations

import hmac
import http.client
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FORWARDED = ("Content-Type", "Accept")
PROBE = "mlops-actions-probe"  # the header smoke tests send
LOGGED_BYTES = 1 << 20  # requests up to this size are kept, with their data, for the monitor


class RequestLog:
    """requests.jsonl beside the endpoint's record: one line per scored request."""

    def __init__(self, path: Path):
        self.path, self.lock = path, threading.Lock()

    def add(self, deployment: str, status: int, milliseconds: float, body: bytes, probe: bool) -> None:
        entry = {"time": time.time(), "deployment": deployment, "status": status, "ms": round(milliseconds, 3)}
        if probe:  # a smoke test's request: not the population the endpoint serves
            entry["probe"] = True
        if len(body) <= LOGGED_BYTES:
            try:
                data = json.loads(body).get("input_data")
                if isinstance(data, dict) and isinstance(data.get("data"), list):
                    entry.update(columns=data.get("columns"), rows=data["data"])
            except (ValueError, AttributeError):
                pass
        with self.lock, open(self.path, "a") as out:
            out.write(json.dumps(entry) + "\n")


class Record:
    """The endpoint's JSON record, reloaded when the file changes."""

    def __init__(self, path: Path):
        self.path, self.stamp, self.data = path, None, {}

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


def handler_for(record: Record, log: RequestLog):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: do not wait for an ACK between them

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
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = record.get()
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {data.get('key', '')}".encode()):
                return self.error(401, "missing or wrong key: send Authorization: Bearer <endpoint key>")
            if self.path.split("?")[0] != "/score":
                return self.error(404, f"no route {self.path}; POST /score")
            name, why = choose(data, self.headers.get("azureml-model-deployment"))
            if name is None:
                return self.error(404, why)
            started, probe = time.perf_counter(), bool(self.headers.get(PROBE))
            try:
                upstream = http.client.HTTPConnection("127.0.0.1", data["deployments"][name]["port"], timeout=120)
                headers = {key: self.headers[key] for key in FORWARDED if self.headers.get(key)}
                upstream.request("POST", "/score", body=body, headers=headers)
                response = upstream.getresponse()
                answer = response.read()
            except OSError as exc:
                log.add(name, 502, (time.perf_counter() - started) * 1000, body, probe)
                return self.error(502, f"deployment {name} did not answer: {exc}")
            log.add(name, response.status, (time.perf_counter() - started) * 1000, body, probe)
            self.reply(response.status, answer, {"Content-Type": response.getheader("Content-Type", "application/json"),
                                                 "azureml-model-deployment": name})

        def log_message(self, format, *args):  # one line per request, on stderr (the router's log)
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))

    return Handler


def main(argv: list[str] | None = None) -> None:
    [path] = argv if argv is not None else sys.argv[1:]
    record = Record(Path(path))
    log = RequestLog(Path(path).with_name("requests.jsonl"))
    server = ThreadingHTTPServer(("127.0.0.1", record.get()["port"]), handler_for(record, log))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
