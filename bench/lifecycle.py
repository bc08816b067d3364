"""The model lifecycle on the local backend: what each command costs, and how the endpoint answers.

    .venv/bin/python bench/lifecycle.py [--repeat N] [--requests N]

Each command is timed as a user runs it (a new `mlops-actions` process), min / median of N rounds, in a
fresh state folder per round. The endpoint is measured with the smoke test at concurrency 1 and 8,
through the endpoint's router and, as the baseline in the same invocation, straight to the deployment's
inference server. Writes docs/benchmarks/lifecycle.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))
import models  # noqa: E402
from mlops_actions.backends.local import LocalBackend  # noqa: E402

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))},
       "PYTHONPATH": str(ROOT / "src")}


def command(*args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "mlops_actions", *args], env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return time.perf_counter() - started


def load(url: str, body: bytes, headers: dict, count: int, concurrency: int) -> dict[str, float]:
    def one(_):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            assert response.status == 200
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(count)))
    seconds = time.perf_counter() - started
    pick = lambda share: latencies[max(0, int(share / 100 * len(latencies) + 0.999) - 1)]  # noqa: E731
    return {"p50": pick(50), "p95": pick(95), "p99": pick(99), "rps": count / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    v1, v2 = models.mlflow_model(work / "v1", 1.0), models.mlflow_model(work / "v2", 2.0)
    request = work / "request.json"
    request.write_text(json.dumps(models.REQUEST))
    timings: dict[str, list[float]] = {}
    for round_ in range(args.repeat):
        state = str(work / f"state{round_}")
        common = ["--state-dir", state]
        steps = [
            ("register-model (new version)", ["register-model", "--model-name", "m", "--model-path", str(v1)]),
            ("register-model (same files again)", ["register-model", "--model-name", "m", "--model-path", str(v1)]),
            ("deploy-endpoint (first: endpoint + blue)", ["deploy-endpoint", "--endpoint-name", "bench",
                                                          "--model-name", "m", "--model-version", "1"]),
            ("smoke-test (10 requests)", ["smoke-test", "--endpoint-name", "bench", "--request-file", str(request),
                                          "--expected-output", json.dumps(models.ANSWER)]),
            ("register-model (second version)", ["register-model", "--model-name", "m", "--model-path", str(v2)]),
            ("deploy-endpoint (green at 0%)", ["deploy-endpoint", "--endpoint-name", "bench", "--model-name", "m",
                                               "--model-version", "2"]),
            ("shift-traffic (green, retire blue)", ["shift-traffic", "--endpoint-name", "bench", "--traffic", "green",
                                                    "--retire", "true"]),
        ]
        for name, arguments in steps:
            timings.setdefault(name, []).append(command(*arguments, *common))
        if round_ < args.repeat - 1:
            LocalBackend(Path(state)).delete_endpoint("bench")

    backend = LocalBackend(Path(state))
    record = json.loads((Path(state) / "endpoints" / "bench" / "endpoint.json").read_text())
    body = request.read_bytes()
    through_router = (backend.get_endpoint("bench").scoring_uri,
                      {"Content-Type": "application/json", "Authorization": f"Bearer {backend.key('bench')}"})
    direct = (f"http://127.0.0.1:{record['deployments']['green']['port']}/score",
              {"Content-Type": "application/json"})
    endpoint_rows = []
    for concurrency in (1, 8):
        for label, (url, headers) in (("inference server, direct (baseline)", direct),
                                      ("endpoint (router + inference server)", through_router)):
            load(url, body, headers, 20, concurrency)  # warm up
            endpoint_rows.append((label, concurrency, load(url, body, headers, args.requests, concurrency)))
    backend.delete_endpoint("bench")

    lines = [f"Local backend, {args.repeat} rounds, Python {sys.version.split()[0]}, {os.cpu_count()} cores; each "
             "command in a new process, as a workflow step runs it.", "",
             "| Command | min (s) | median (s) |", "|---|---|---|"]
    lines += [f"| {name} | {min(v):.2f} | {statistics.median(v):.2f} |" for name, v in timings.items()]
    lines += ["", f"The endpoint under load: {args.requests} requests of the 2-row sample, 1 gunicorn worker.", "",
              "| Target | Concurrency | p50 ms | p95 ms | p99 ms | requests/s | p50 vs direct |",
              "|---|---|---|---|---|---|---|"]
    baseline = {}
    for label, concurrency, figures in endpoint_rows:
        baseline.setdefault(concurrency, figures["p50"])
        lines.append(f"| {label} | {concurrency} | {figures['p50']:.2f} | {figures['p95']:.2f} | {figures['p99']:.2f} "
                     f"| {figures['rps']:.0f} | {figures['p50'] / baseline[concurrency]:.2f}x |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "docs" / "benchmarks" / "lifecycle.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# The model lifecycle on the local backend\n\nMade by `.venv/bin/python bench/lifecycle.py`.\n\n"
                   + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
