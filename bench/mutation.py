"""Mutation testing of the core modules against their own fast tests, with mutmut (PyPI). One command:

    .venv/bin/python bench/mutation.py [MODULE ...]

For each module it copies the working tree to a temporary folder, runs `mutmut run` there with only that module
mutated and only its tests selected (mutmut runs, for each mutant, the tests that reach the mutated function),
and writes docs/mutation.md: per module, mutants, killed, survived, not reached by any of its tests, and each
survivor's diff, to be killed by a new test or explained as equivalent (bench/equivalent-mutants.txt: one
`mutant: why` a line). Each module's figures are kept in bench/mutation-results.json, so a run of some modules
rewrites the report with the others' last figures. Not in CI (slow on 2 cores): run it before a release. Target: at
least 85% of the reached mutants killed, per module.
"""

from __future__ import annotations

import argparse
import collections
import json
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
    "register.py": ["tests/test_register_unit.py", "tests/test_thresholds.py"],
    "gate.py": ["tests/test_gate_unit.py", "tests/test_thresholds.py", "tests/test_register_unit.py"],
    "smoke.py": ["tests/test_smoke_unit.py", "tests/test_thresholds.py"],
    "deploy.py": ["tests/test_deploy_unit.py", "tests/test_deployment_files.py"],
    "traffic.py": ["tests/test_traffic_unit.py"],
    "splits.py": ["tests/test_thresholds.py", "tests/test_local_run.py"],
    # generate.py: less a wheel's build and the linters' runs, which mutate nothing
    "generate.py": ["tests/test_generate_unit.py", "tests/test_generate.py",
                    "--deselect", "tests/test_generate.py::test_installed_from_a_wheel_the_pre_commit_hooks_work",
                    "-k", "not test_generated_workflows_pass_actionlint_zizmor_and_the_schema"],
    "monitor.py": ["tests/test_monitor_unit.py", "tests/test_thresholds.py"],
    "lint.py": ["tests/test_lint.py", "--deselect", "tests/test_lint.py::test_lints_this_repository_clean"],
    "unit_test.py": ["tests/test_unit_test_unit.py"],
    "cli_yaml.py": ["tests/test_cli_yaml_unit.py", "tests/test_deployment_files.py"],
    "backends/environments.py": ["tests/test_deployment_files.py"],
    "backends/router.py": ["tests/test_router_unit.py"],
    "backends/local.py": ["tests/test_local_unit.py"],
}
# scores of the first run (2026-11-27), before the modules' unit tests: killed of reached
BEFORE = {"inputs.py": "86%", "register.py": "39%", "smoke.py": "66%", "deploy.py": "56%", "traffic.py": "none reached",
          "splits.py": "60%", "monitor.py": "53%", "cli_yaml.py": "33%", "backends/environments.py": "70%"}
RESULTS = ROOT / "bench" / "mutation-results.json"
EQUIVALENT = ROOT / "bench" / "equivalent-mutants.txt"
SHOWN = 80  # survivors listed per module
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "mutants", "__pycache__", ".mypy_cache", "*.egg-info")


def mutmut(folder: Path, *arguments: str, timeout: int = 7200) -> str:
    done = subprocess.run([str(PYTHON), "-m", "mutmut", *arguments], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)
    return done.stdout + done.stderr


def run_module(module: str, tests: list[str], work: Path, children: int) -> dict:
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
    log = mutmut(copy, "run", "--max-children", str(children))
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
    return {"counts": dict(collections.Counter(statuses.values())), "survivors": survivors, "seconds": seconds,
            "tests": tests, "date": time.strftime("%Y-%m-%d")}


def report(results: dict[str, dict], equivalent: dict[str, str]) -> str:
    lines = ["# Mutation testing", "",
             f"Made by `.venv/bin/python bench/mutation.py --max-children 1` ({MUTMUT}); each module's run date is "
             "in the table. Each module is mutated alone and tested by its own fast tests (named below). *Not "
             "reached*: mutants no selected test runs (code only the slow tests reach, such as the azureml paths or "
             "what runs in a subprocess, which mutmut does not see); *score*: killed of reached (*of all*: killed of "
             "every mutant). Target: 85% per module. Every survivor follows: a test should kill it, or it is "
             "equivalent (the code behaves the same either way) and bench/equivalent-mutants.txt says why. A survivor "
             "marked *not yet killed* may be killed by a test added after its module's run: the next run says.", "",
             "| Module | Tests | Mutants | Killed | Survived | Equivalent | Not reached | Score before | Score | "
             "Of all | Seconds | Run on |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for module, result in results.items():
        counts = collections.Counter(result["counts"])
        total = sum(counts.values())
        killed = counts["killed"] + counts["timeout"]
        unreached = counts["no tests"] + counts["not checked"]  # not checked: none of the tests imports the module
        reached = total - unreached - counts["skipped"]
        score = f"{100 * killed / reached:.0f}%" if reached else "-"
        explained = sum(1 for name in result["survivors"] if name in equivalent)
        tests = ", ".join(Path(t).name for t in result["tests"] if t.startswith("tests/") and "::" not in t)
        lines.append(f"| {module} | {tests} | {total} | {killed} | "
                     f"{counts['survived']} | {explained} | {unreached} | {BEFORE.get(module, 'not run')} | {score} | "
                     f"{100 * killed / total:.0f}% | {result['seconds']:.0f} | {result.get('date', '')} |")
    for module in [module for module in MODULES if module not in results]:
        lines.append(f"| {module} | not run with its current tests | | | | | | {BEFORE.get(module, 'not run')} | "
                     "| | | |")
    for module, result in results.items():
        survivors = list(result["survivors"].items())
        if survivors:
            lines += ["", f"## Survivors in {module}", "", "| Mutant | Line as written | Mutated | Why it survives |",
                      "|---|---|---|---|"]
            lines += [f"| {name.split('.')[-1]} | {' '.join(cell(old))} | {' '.join(cell(new))} | "
                      f"{equivalent.get(name, 'not yet killed').replace('|', '/')} |"
                      for name, (old, new) in ((name, change(diff)) for name, diff in survivors[:SHOWN])]
            if len(survivors) > SHOWN:
                lines.append(f"\n…and {len(survivors) - SHOWN} more: `bench/mutation.py {module}` and "
                             "`mutmut show` in its copy list them all.")
    return "\n".join(lines) + "\n"


def equivalents() -> dict[str, str]:
    """bench/equivalent-mutants.txt: `mutant: why it is equivalent` lines (# comments)."""
    found = {}
    for line in EQUIVALENT.read_text().splitlines() if EQUIVALENT.exists() else []:
        name, _, why = line.partition(":")
        if name.strip() and not name.startswith("#"):
            found[name.strip()] = why.strip()
    return found


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
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default: 1)")
    parser.add_argument("--report", action="store_true", help="only rewrite docs/mutation.md from the kept results")
    arguments = parser.parse_args()
    chosen = [] if arguments.report else arguments.modules or list(MODULES)
    unknown = [module for module in chosen if module not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]}: choose from {', '.join(MODULES)}")
    if chosen and subprocess.run([str(PYTHON), "-c", "import mutmut"], capture_output=True).returncode != 0:
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", MUTMUT], check=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="mlops-mutation-") as work:
        for module in chosen:
            print(f"mutating {module} against {', '.join(MODULES[module])}", flush=True)
            results[module] = run_module(module, MODULES[module], Path(work), arguments.max_children)
            counts = results[module]["counts"]
            print(f"  {counts} in {results[module]['seconds']:.0f} s", flush=True)
            RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    ordered = {module: results[module] for module in MODULES if module in results}
    (ROOT / "docs" / "mutation.md").write_text(report(ordered, equivalents()))
    print(f"wrote {ROOT / 'docs' / 'mutation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
