"""What the actions cost a user, measured against running the tools bare. One command:

    .venv/bin/python bench/run.py [--repeat N] [--quick]

Every figure is min / median of N runs; every ratio divides medians measured in this same invocation
(runs are interleaved, so machine noise hits both sides alike). Timing thresholds are reported against
their targets here and never asserted in tests. Writes docs/benchmarks.md.

Sections: (1) the lint and unit-test actions through act vs flake8 and pytest bare, on the example
project and on generated trees of 10, 100 and 1,000 modules; (2) cold set-up of each action's Python
environment (a fresh virtualenv, warm package cache) and its size; (3) CLI start-up and each command's
import time; (4) the local end-to-end pipeline, total and per stage; (5) the local endpoint under load at
concurrency 1 and 8, direct and through its router; (6) generate on a typical config; (7) the lifecycle
commands on the local backend.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
from mlops_actions import act  # noqa: E402
from mlops_actions.backends.local import LocalBackend  # noqa: E402
from mlops_actions.smoke import percentile  # noqa: E402

PYTHON = sys.executable
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))},
       "PYTHONPATH": str(ROOT / "src")}
LIBRARY = "OWNER/mlops-actions@v1"
WORKFLOW = """name: Benchmark
on: workflow_dispatch
permissions: {}
jobs:
  checks:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - name: lint
        uses: OWNER/mlops-actions/actions/lint@v1
        with:
          paths: src tests
      - name: unit-test
        uses: OWNER/mlops-actions/actions/unit-test@v1
        with:
          coverage-source: src
"""


def timed(command: list[str], cwd: Path, **env) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env={**ENV, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:  # a failure is not a measurement
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds


def summary(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def cell(samples: list[float]) -> str:
    low, mid = summary(samples)
    return f"{low:.3f} / {mid:.3f}"


def tree(folder: Path, modules: int) -> Path:
    """A project of `modules` small modules, each with a test file: lint-clean, tests passing."""
    (folder / "src" / "pkg").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "src" / "pkg" / "__init__.py").write_text("")
    (folder / "pytest.ini").write_text("[pytest]\ntestpaths = tests\npythonpath = src\n")
    (folder / ".flake8").write_text("[flake8]\nmax-line-length = 100\n")
    for index in range(modules):
        (folder / "src" / "pkg" / f"mod_{index}.py").write_text(
            f'"""Module {index}."""\n\n\ndef scale(values, factor={index + 1}):\n'
            '    return [value * factor for value in values]\n\n\n'
            'def total(values):\n    result = 0\n    for value in values:\n        result += value\n'
            '    return result\n')
        (folder / "tests" / f"test_mod_{index}.py").write_text(
            f"from pkg.mod_{index} import scale, total\n\n\ndef test_scale():\n"
            f"    assert scale([1, 2]) == [{index + 1}, {2 * (index + 1)}]\n\n\n"
            "def test_total():\n    assert total([1, 2, 3]) == 6\n")
    return folder


def as_repository(folder: Path) -> Path:
    (folder / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (folder / ".github" / "workflows" / "bench.yml").write_text(WORKFLOW)
    (folder / ".gitignore").write_text("test-results/\n.coverage\n__pycache__/\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([*git, "add", "-A"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-qm", "tree"], cwd=folder, check=True)
    return folder


def actions_vs_bare(work: Path, repeat: int, sizes: list[int]) -> list[str]:
    example = work / "example"
    shutil.copytree(ROOT / "example-project", example, ignore=shutil.ignore_patterns(".github", "outputs"))
    projects = {"example project": as_repository(example)}
    projects.update({f"{n} modules": as_repository(tree(work / f"tree{n}", n)) for n in sizes})
    flake8 = [PYTHON, "-m", "flake8", "src", "tests"]
    pytest = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    pytest_cov = [*pytest, "--cov=src", "--cov-report=xml:/dev/null"]
    run_sh = [str(ROOT / "actions" / "run.sh")]
    lines = ["| Project | flake8 bare | lint action | ratio | lint step in act | ratio | pytest --cov bare "
             "| unit-test action | ratio | unit-test step in act | ratio | pytest bare (no coverage) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, project in projects.items():
        samples: dict[str, list[float]] = {}
        for _ in range(repeat):
            samples.setdefault("flake8", []).append(timed(flake8, project))
            samples.setdefault("pytest", []).append(timed(pytest, project))
            samples.setdefault("pytest-cov", []).append(timed(pytest_cov, project))
            # the action's step as a runner executes it: run.sh, inputs from INPUT_* variables
            samples.setdefault("lint-action", []).append(timed(
                [*run_sh, "lint"], project, MLOPS_ACTIONS_PYTHON=PYTHON, INPUT_PATHS="src tests"))
            samples.setdefault("unit-test-action", []).append(timed(
                [*run_sh, "unit-test"], project, MLOPS_ACTIONS_PYTHON=PYTHON, INPUT_COVERAGE_SOURCE="src",
                INPUT_JUNIT_FILE=str(work / "junit.xml")))
            started = time.perf_counter()
            run = act.run("workflow_dispatch", ".github/workflows/bench.yml", project,
                          repositories={LIBRARY: ROOT})
            samples.setdefault("act", []).append(time.perf_counter() - started)
            job = run.jobs["checks"]
            assert job.result == "succeeded", "\n".join(job.lines[-30:])
            samples.setdefault("lint", []).append(job.step_seconds["lint"])
            samples.setdefault("unit-test", []).append(job.step_seconds["unit-test"])
        median = {key: summary(values)[1] for key, values in samples.items()}
        ratio = lambda key, base: f"{median[key] / median[base]:.2f}x"  # noqa: E731
        lines.append(f"| {name} | {cell(samples['flake8'])} | {cell(samples['lint-action'])} | "
                     f"{ratio('lint-action', 'flake8')} | {cell(samples['lint'])} | {ratio('lint', 'flake8')} | "
                     f"{cell(samples['pytest-cov'])} | {cell(samples['unit-test-action'])} | "
                     f"{ratio('unit-test-action', 'pytest-cov')} | {cell(samples['unit-test'])} | "
                     f"{ratio('unit-test', 'pytest-cov')} | {cell(samples['pytest'])} |")
        print(lines[-1], flush=True)
    return lines


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def cold_setup(work: Path) -> list[str]:
    """A fresh virtualenv per extra, installed from the (warm) package cache, as a new runner does."""
    lines = ["| Action(s) | extra | set-up (s) | environment size (MB) | packages | azure-ai-ml in it? |",
             "|---|---|---|---|---|---|"]
    for actions, extra in (("lint", "lint"), ("unit-test", "test"),
                           ("register-model, deploy-endpoint (local)", "local"),
                           ("model actions (azureml)", "azureml")):
        target = work / f"venv-{extra}"
        started = time.perf_counter()
        venv.create(target, with_pip=True)
        subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(ROOT / "requirements" / f"{extra}.txt")], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        frozen = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                                capture_output=True, text=True).stdout.lower().split()
        has_azure = any(line.startswith("azure-ai-ml==") for line in frozen)
        lines.append(f"| {actions} | {extra} | {seconds:.1f} | {folder_size(target) / 1e6:.0f} | {len(frozen)} "
                     f"| {'yes' if has_azure else 'no'} |")
        print(lines[-1], flush=True)
        shutil.rmtree(target)
    return lines


def startup(repeat: int) -> list[str]:
    bare = [timed([PYTHON, "-c", "pass"], ROOT) for _ in range(repeat * 2)]
    help_ = [timed([PYTHON, "-m", "mlops_actions", "--help"], ROOT) for _ in range(repeat * 2)]
    lines = ["| Measurement | min / median (s) |", "|---|---|", f"| python -c pass (the floor) | {cell(bare)} |",
             f"| mlops-actions --help | {cell(help_)} |"]
    from mlops_actions.cli import COMMANDS

    for command, (module, _) in COMMANDS.items():
        samples = [timed([PYTHON, "-c", f"import mlops_actions.{module}"], ROOT) for _ in range(repeat)]
        lines.append(f"| import of `{command}` (mlops_actions.{module}) | {cell(samples)} |")
    for line in lines[2:]:
        print(line, flush=True)
    return lines


def pipeline(work: Path) -> list[str]:
    env = {**ENV, "MLOPS_DEMO_DIR": str(work / "demo")}
    subprocess.run([PYTHON, str(ROOT / "scripts" / "demo.py")], env=env, capture_output=True, check=True)
    report = json.loads((work / "demo" / "report.json").read_text())
    subprocess.run([PYTHON, str(ROOT / "scripts" / "demo.py"), "stop"], env=env, capture_output=True)
    total = report["seconds"]
    lines = ["| Stage | Outcome | Wall time (s) | Share |", "|---|---|---|---|"]
    lines += [f"| {s['name']} | {s['outcome']} | {s['seconds']:.1f} | {100 * s['seconds'] / total:.0f}% |"
              for s in report["stages"]]
    lines.append(f"| **Total** (scripts/demo, with set-up and git) | | **{total:.1f}** | 100% |")
    print("\n".join(lines), flush=True)
    return lines


def load(url: str, body: bytes, headers: dict, count: int, concurrency: int) -> dict[str, float]:
    """`count` POSTs from `concurrency` threads. Each thread keeps its connection to the router alive, as a client
    with a session does (requests.Session, an HTTP/1.1 agent); the inference server closes every connection
    (gunicorn's sync worker), so the direct baseline connects for each request."""
    import http.client
    import threading

    from mlops_actions.backends.processes import UnixHTTPConnection

    kept = threading.local()

    def one(_):
        started = time.perf_counter()
        connection = getattr(kept, "connection", None) or (
            UnixHTTPConnection(url.removeprefix("unix:"), timeout=30) if url.startswith("unix:") else
            http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=30))
        connection.request("POST", "/score", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
        if response.will_close:
            connection.close()
            connection = None
        kept.connection = connection
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(count)))
    seconds = time.perf_counter() - started
    return {**{f"p{share}": percentile(latencies, share) for share in (50, 95, 99)}, "rps": count / seconds}


def lifecycle_and_endpoint(work: Path, repeat: int, requests: int) -> tuple[list[str], list[str]]:
    import models

    v1, v2 = models.mlflow_model(work / "v1", 1.0), models.mlflow_model(work / "v2", 2.0)
    request = work / "request.json"
    request.write_text(json.dumps(models.REQUEST))
    timings: dict[str, list[float]] = {}
    for round_ in range(repeat):
        state = work / f"state{round_}"
        steps = [
            ("register-model (new version)", ["register-model", "--model-name", "m", "--model-path", str(v1)]),
            ("register-model (same files again)", ["register-model", "--model-name", "m", "--model-path", str(v1)]),
            ("deploy-endpoint (first: endpoint + blue)", ["deploy-endpoint", "--endpoint-name", "bench",
                                                          "--model-name", "m", "--model-version", "1"]),
            ("smoke-test (10 requests)", ["smoke-test", "--endpoint-name", "bench", "--request-file", str(request),
                                          "--expected-output", json.dumps(models.ANSWER)]),
            ("register-model (second version)", ["register-model", "--model-name", "m", "--model-path", str(v2)]),
            ("deploy-endpoint (green, at 0%)", ["deploy-endpoint", "--endpoint-name", "bench", "--model-name", "m",
                                                "--model-version", "2"]),
            ("shift-traffic (green, retire blue)", ["shift-traffic", "--endpoint-name", "bench", "--traffic", "green",
                                                    "--retire", "true"]),
        ]
        for name, arguments in steps:
            timings.setdefault(name, []).append(timed([PYTHON, "-m", "mlops_actions", *arguments, "--state-dir",
                                                       str(state)], ROOT))
        if round_ < repeat - 1:
            LocalBackend(state).delete_endpoint("bench")
    commands = ["| Command (a new process, as a step runs it) | min / median (s) |", "|---|---|"]
    commands += [f"| {name} | {cell(values)} |" for name, values in timings.items()]
    print("\n".join(commands), flush=True)

    backend = LocalBackend(state)
    record = json.loads((state / "endpoints" / "bench" / "endpoint.json").read_text())
    body = request.read_bytes()
    targets = {"inference server, direct (baseline)": (f"unix:{record['deployments']['green']['socket']}",
                                                       {"Content-Type": "application/json"}),
               "endpoint (router + inference server)": (backend.get_endpoint("bench").scoring_uri, {
                   "Content-Type": "application/json", "Authorization": f"Bearer {backend.key('bench')}"})}
    endpoint = [f"{requests} requests of the 2-row sample, {repeat} interleaved runs per row (medians); 1 gunicorn "
                "worker. Target: the endpoint's requests/s at concurrency 8 within 1.3x of the server's.", "",
                "| Target | Concurrency | p50 ms | p95 ms | p99 ms | requests/s | requests/s: direct / endpoint |",
                "|---|---|---|---|---|---|---|"]
    for concurrency in (1, 8):
        runs: dict[str, list[dict]] = {label: [] for label in targets}
        for label, (url, headers) in targets.items():
            load(url, body, headers, 20, concurrency)  # warm up
        for _ in range(repeat):
            for label, (url, headers) in targets.items():
                runs[label].append(load(url, body, headers, requests, concurrency))
        medians = {label: {key: statistics.median(run[key] for run in found) for key in found[0]}
                   for label, found in runs.items()}
        baseline = medians[next(iter(targets))]["rps"]
        for label, figures in medians.items():
            endpoint.append(f"| {label} | {concurrency} | {figures['p50']:.2f} | {figures['p95']:.2f} | "
                            f"{figures['p99']:.2f} | {figures['rps']:.0f} | {baseline / figures['rps']:.2f}x |")
            print(endpoint[-1], flush=True)
    backend.delete_endpoint("bench")
    return commands, endpoint


def generate_time(repeat: int) -> list[str]:
    from mlops_actions import config, generate

    config_path = ROOT / "example-project" / "mlops.yml"
    in_process = []
    for _ in range(repeat * 4):
        started = time.perf_counter()
        generate.render(config.load(config_path), "mlops.yml", Path("/tmp/unused"))
        in_process.append(time.perf_counter() - started)
    cli = [timed([PYTHON, "-m", "mlops_actions", "generate", "--config", str(config_path), "--check"], ROOT)
           for _ in range(repeat)]
    lines = ["| Measurement | min / median (s) |", "|---|---|",
             f"| load + validate + render the example's mlops.yml (in process) | {cell(in_process)} |",
             f"| `mlops-actions generate --check` (a new process) | {cell(cli)} |"]
    print("\n".join(lines[2:]), flush=True)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="fewer runs and no 1,000-module tree")
    parser.add_argument("--only", type=int, nargs="+", choices=range(1, 8), metavar="N",
                        help="run these sections and replace only them in docs/benchmarks.md (5 and 7 run together)")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    wanted = set(args.only or range(1, 8))
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    started = time.monotonic()
    sections = []
    try:
        if 1 in wanted:
            print("1. actions vs bare tools", flush=True)
            sections.append((1, "The lint and unit-test actions through act vs the bare tools",
                             "Seconds, min / median; the environment is warm (flake8, pytest and pytest-cov "
                             "installed). *Action*: its step as a runner executes it (`actions/run.sh`, inputs from "
                             "`INPUT_*`, the package, the tool, annotations, summary, outputs). *Step in act*: the "
                             "same step as act times it inside a job; it adds act's own per-step work (act copies the "
                             "mapped action repository for every step; GitHub downloads it once per job). The unit-"
                             "test action runs pytest with coverage (its default), so its baseline is `pytest --cov` "
                             "bare; the last column shows what coverage itself costs. Target: the action within 1.2x "
                             "of the bare tool on the 100-module tree.",
                             actions_vs_bare(work, repeat, sizes)))
        if 2 in wanted:
            print("2. cold set-up", flush=True)
            sections.append((2, "Cold set-up of each action's Python environment",
                             "A new virtualenv, then `pip install -r requirements/<extra>.txt` with a warm pip cache "
                             "(what a fresh runner does when the packages are missing). uv was not adopted: pip's "
                             "figure is the one users get.", cold_setup(work)))
        if 3 in wanted:
            print("3. start-up", flush=True)
            sections.append((3, "CLI start-up", "Each command's module is imported only when it runs.",
                             startup(repeat)))
        if 4 in wanted:
            print("4. pipeline", flush=True)
            sections.append((4, "The local end-to-end pipeline (`scripts/demo`)", "One run.", pipeline(work)))
        if wanted & {5, 7}:
            print("5, 7. endpoint, lifecycle", flush=True)
            commands, endpoint = lifecycle_and_endpoint(work, max(1, repeat // 2), args.requests)
            sections.append((5, "The local endpoint under load", "Through its router (what clients reach) and, as "
                             "the baseline, straight to the deployment's inference server.", endpoint))
            sections.append((7, "The lifecycle commands on the local backend", "", commands))
        if 6 in wanted:
            print("6. generate", flush=True)
            sections.append((6, "generate on a typical config (the example project's)", "", generate_time(repeat)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    output = ROOT / "docs" / "benchmarks.md"
    header = (f"# Benchmarks\n\nMade by `.venv/bin/python bench/run.py{' --quick' if args.quick else ''}` in "
              f"{time.monotonic() - started:.0f} s on {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
              f"{repeat} runs per figure unless said otherwise. This machine is shared and noisy: read the "
              "ratios, measured side by side, before the absolute figures.\n")
    written = {number: f"\n## {number}. {title}\n\n{note + chr(10) + chr(10) if note else ''}" + "\n".join(lines)
               for number, title, note, lines in sections}
    if args.only and output.is_file():  # the other sections stay as they were last measured
        first, *parts = output.read_text().split("\n## ")
        for part in parts:
            written.setdefault(int(part.split(".", 1)[0]), "\n## " + part.rstrip("\n"))
        header = (f"{first.split(chr(10) + chr(10) + 'Sections ')[0].rstrip()}\n\nSections "
                  f"{', '.join(map(str, sorted(wanted)))} were measured again by `bench/run.py --only` on "
                  f"{time.strftime('%Y-%m-%d')}, with {repeat} runs per figure.\n")
    output.parent.mkdir(exist_ok=True)
    output.write_text(header + "".join(written[number] + "\n" for number in sorted(written)))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
