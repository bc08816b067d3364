"""What the PR-check actions cost against running flake8 and pytest bare, on the example project.

    .venv/bin/python bench/pr_checks.py [--repeat N]

Each figure is the min / median wall time of N runs; each ratio divides medians measured in this same
invocation. "through act" is the action's step as act times it (inputs to env, run.sh, the package, the
tool, annotations, outputs), inside a job act runs in host mode. Writes docs/benchmarks/pr-checks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from mlops_actions import act  # noqa: E402

EXAMPLE = ROOT / "example-project"
PYTHON = sys.executable
ENV = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}


def timed(command: list[str], **env) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=EXAMPLE, env={**ENV, "PYTHONPATH": str(ROOT / "src"), **env},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def stats(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    samples: dict[str, list[float]] = {}
    flake8 = [PYTHON, "-m", "flake8", "src", "tests"]
    pytest = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=src", "--cov-report=",
              "-o", "pythonpath=src"]
    for _ in range(repeat):  # interleaved, so that machine noise hits every measurement alike
        samples.setdefault("flake8 bare", []).append(timed(flake8))
        samples.setdefault("mlops-actions lint (CLI)", []).append(
            timed([PYTHON, "-m", "mlops_actions", "lint", "--paths", "src tests"]))
        samples.setdefault("pytest + coverage bare", []).append(timed(pytest))
        samples.setdefault("mlops-actions unit-test (CLI)", []).append(
            timed([PYTHON, "-m", "mlops_actions", "unit-test", "--coverage-source", "src",
                   "--junit-file", "/tmp/mlops-actions-bench/junit.xml"]))
        started = time.perf_counter()
        run = act.run("workflow_dispatch", "bench/pr-checks.yml", ROOT)
        samples.setdefault("act job, whole (set-up + both actions)", []).append(time.perf_counter() - started)
        job = run.jobs["PR checks"]
        assert job.result == "succeeded", "\n".join(job.lines[-30:])
        samples.setdefault("lint action through act", []).append(job.step_seconds["lint action"])
        samples.setdefault("unit-test action through act", []).append(job.step_seconds["unit-test action"])

    median = {name: stats(values)[1] for name, values in samples.items()}
    baseline = {"mlops-actions lint (CLI)": "flake8 bare", "lint action through act": "flake8 bare",
                "mlops-actions unit-test (CLI)": "pytest + coverage bare",
                "unit-test action through act": "pytest + coverage bare"}
    lines = [f"Example project ({sum(1 for _ in EXAMPLE.rglob('*.py'))} Python files), {repeat} runs each, "
             f"Python {sys.version.split()[0]}, {os.cpu_count()} cores.", "",
             "| Measurement | min (s) | median (s) | vs bare (median ratio) |", "|---|---|---|---|"]
    for name, values in samples.items():
        low, mid = stats(values)
        ratio = f"{mid / median[baseline[name]]:.2f}x {baseline[name]}" if name in baseline else ""
        lines.append(f"| {name} | {low:.3f} | {mid:.3f} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "docs" / "benchmarks" / "pr-checks.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# PR checks: the actions against the bare tools\n\nMade by `.venv/bin/python bench/pr_checks.py`."
                   "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
