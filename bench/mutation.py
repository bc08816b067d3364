"""Mutation testing of the core modules against their own fast tests, with mutmut (PyPI). One command:

    .venv/bin/python bench/mutation.py [MODULE ...]

For each module it copies the working tree to a temporary folder, runs `mutmut run` there with only that module
mutated and only its tests selected (mutmut runs, for each mutant, the tests that reach the mutated function),
and writes docs/mutation.md: per module, mutants, killed, survived, not reached by any of its tests, and each
survivor's diff, to be killed by a new test or explained as equivalent. Not in CI (slow on 2 cores): run it
before a release. Target: at least 85% of the reached mutants killed, per module.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
MUTMUT = "mutmut==3.8.1"
# module (under src/mlops_actions) -> its fast tests: no inference server, no act (those take minutes per mutant)
MODULES = {
    "inputs.py": ["tests/test_inputs.py"],
    "register.py": ["tests/test_thresholds.py"],
    "smoke.py": ["tests/test_thresholds.py"],
    "deploy.py": ["tests/test_deployment_files.py"],
    "traffic.py": ["tests/test_thresholds.py"],
    "splits.py": ["tests/test_thresholds.py", "tests/test_local_run.py"],
    "generate.py": ["tests/test_generate.py"],
    "monitor.py": ["tests/test_thresholds.py"],
    "lint.py": ["tests/test_lint.py"],
    "unit_test.py": ["tests/test_unit_test.py"],
    "cli_yaml.py": ["tests/test_deployment_files.py"],
    "backends/environments.py": ["tests/test_deployment_files.py"],
    "backends/router.py": ["tests/test_local_lifecycle.py"],
    "backends/local.py": ["tests/test_local_lifecycle.py"],
}
SHOWN = 60  # survivors listed per module
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "mutants", "__pycache__", ".mypy_cache", "*.egg-info")


def mutmut(folder: Path, *arguments: str, timeout: int = 7200) -> str:
    done = subprocess.run([str(PYTHON), "-m", "mutmut", *arguments], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)
    return done.stdout + done.stderr


def run_module(module: str, tests: list[str], work: Path) -> dict:
    """Mutate one module in a copy of the working tree; its statuses and survivors' diffs."""
    copy = work / module.replace("/", "-")
    shutil.copytree(ROOT, copy, ignore=IGNORED, symlinks=True)
    # mutmut runs from mutants/, a copy of the sources and tests: the package's templates go where an installed
    # package has them, and what the tests read beside them is copied too
    shutil.copytree(copy / "templates", copy / "src" / "mlops_actions" / "templates")
    beside = [path.name for path in ROOT.iterdir() if path.name not in ("src", "tests") and not IGNORED(
        str(ROOT), [path.name])]
    with open(copy / "pyproject.toml", "a") as config:
        config.write(f'\n[tool.mutmut]\nsource_paths = ["src/mlops_actions"]\n'
                     f'only_mutate = ["src/mlops_actions/{module}"]\n'
                     f"pytest_add_cli_args_test_selection = {tests!r}\n".replace("'", '"')
                     + f"also_copy = {sorted(beside)!r}\n".replace("'", '"')
                     + 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n')
    started = time.monotonic()
    log = mutmut(copy, "run", "--max-children", "2")
    seconds = time.monotonic() - started
    statuses = {}
    for line in mutmut(copy, "results", "--all", "true").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith("mlops_actions."):
            statuses[name] = status
    if not statuses:
        raise RuntimeError(f"mutmut found no mutants for {module}; its output ends with:\n{log[-3000:]}")
    survivors = {name: mutmut(copy, "show", name).split("\n", 1)[-1].strip()
                 for name, status in statuses.items() if status == "survived"}
    return {"counts": collections.Counter(statuses.values()), "survivors": survivors, "seconds": seconds,
            "tests": tests}


def report(results: dict[str, dict]) -> str:
    lines = ["# Mutation testing", "",
             f"Made by `.venv/bin/python bench/mutation.py` ({MUTMUT}) on {time.strftime('%Y-%m-%d')}. Each module "
             "is mutated alone and tested by its own fast tests (named below). *Reached*: mutants some selected "
             "test runs (the others are in code no fast test reaches, such as the azureml paths); *score*: killed "
             "of reached. Target: 85% per module. Every survivor's diff follows: a test should kill it, or it is "
             "equivalent (the code behaves the same either way).", "",
             "| Module | Tests | Mutants | Killed | Survived | Not reached | Timed out | Score | Seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for module, result in results.items():
        counts = result["counts"]
        total = sum(counts.values())
        killed = counts["killed"] + counts["timeout"]
        unreached = counts["no tests"] + counts["not checked"]  # not checked: none of the tests imports the module
        reached = total - unreached - counts["skipped"]
        score = f"{100 * killed / reached:.0f}%" if reached else "-"
        lines.append(f"| {module} | {', '.join(Path(t).name for t in result['tests'])} | {total} | {killed} | "
                     f"{counts['survived']} | {unreached} | {counts['timeout']} | {score} | "
                     f"{result['seconds']:.0f} |")
    for module, result in results.items():
        survivors = list(result["survivors"].items())
        if survivors:
            lines += ["", f"## Survivors in {module}", "", "| Mutant | Line as written | Mutated |", "|---|---|---|"]
            lines += [f"| {name.split('.')[-1]} | {' '.join(cell(old))} | {' '.join(cell(new))} |"
                      for name, (old, new) in ((name, change(diff)) for name, diff in survivors[:SHOWN])]
            if len(survivors) > SHOWN:
                lines.append(f"\n…and {len(survivors) - SHOWN} more: `bench/mutation.py {module}` and "
                             "`mutmut show` in its copy list them all.")
    return "\n".join(lines) + "\n"


def change(diff: str) -> tuple[list[str], list[str]]:
    """The lines a mutant removed and added, from mutmut's unified diff."""
    lines = diff.splitlines()
    removed = [line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def cell(lines: list[str]) -> list[str]:
    return [f"`{line[:140]}`".replace("|", "\\|") for line in lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"modules under src/mlops_actions (default: {', '.join(MODULES)})")
    chosen = parser.parse_args().modules or list(MODULES)
    unknown = [module for module in chosen if module not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]}: choose from {', '.join(MODULES)}")
    if subprocess.run([str(PYTHON), "-c", "import mutmut"], capture_output=True).returncode != 0:
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", MUTMUT], check=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="mlops-mutation-") as work:
        for module in chosen:
            print(f"mutating {module} against {', '.join(MODULES[module])}", flush=True)
            results[module] = run_module(module, MODULES[module], Path(work))
            counts = results[module]["counts"]
            print(f"  {dict(counts)} in {results[module]['seconds']:.0f} s", flush=True)
    (ROOT / "docs" / "mutation.md").write_text(report(results))
    print(f"wrote {ROOT / 'docs' / 'mutation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
