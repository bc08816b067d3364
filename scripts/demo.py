"""The example project's workflows, run through act on this machine, offline, as GitHub would run them.

The example project is copied into a repository of its own (.demo/example-project), as a user's would
be, and its workflows use this checkout of mlops-actions as `OWNER/mlops-actions@v1`. A feature branch
is opened with a change, and the pull-request workflow checks it. `--break lint` or `--break test` makes
that change break flake8 or a unit test, and the pull request is rejected with annotations.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_actions import act

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".demo"
LIBRARY = "OWNER/mlops-actions@v1"

# What a feature branch changes, by --break: (file, text to append, commit message)
CHANGES = {
    None: ("src/model/train.py", "\n\nDEFAULT_REG_RATE = 0.01\n", "Name the default regularisation rate"),
    "lint": ("src/model/train.py", "\n\ndef unused(x) :\n    return x\n", "A helper with a lint error"),
    "test": ("tests/test_data.py", "\n\ndef test_dataset_size():\n    assert len(data.generate(10)) == 11\n",
             "A test that fails"),
}


@dataclass
class Stage:
    name: str
    event: str
    workflow: str
    payload: dict
    expect_success: bool


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Data Scientist", "-c", "user.email=ds@localhost", *args], cwd=repo,
                   check=True, capture_output=True)


def open_pull_request(repo: Path, breaking: str | None) -> dict:
    """Commit a change on a feature branch; return the pull_request event GitHub would send."""
    file, text, message = CHANGES[breaking]
    git(repo, "checkout", "-q", "-b", "feature/change")
    with open(repo / file, "a") as handle:
        handle.write(text)
    git(repo, "commit", "-qam", message)
    return {"pull_request": {"number": 1, "title": message, "head": {"ref": "feature/change"},
                             "base": {"ref": "main"}}, "number": 1}


def report(stage: Stage, run: act.Run, seconds: float) -> bool:
    [job] = run.jobs.values() or [act.Job()]
    passed = run.returncode == 0 and job.result == "succeeded"
    as_expected = passed == stage.expect_success
    print(f"\n{stage.name}: {'passed' if passed else 'failed'} in {seconds:.1f} s"
          f"{'' if as_expected else '  (NOT as expected)'}")
    for note in job.annotations:
        where = ":".join(str(part) for part in (note.file, note.line, note.col) if part)
        print(f"  {note.level}: {where} [{note.title}] {note.message.splitlines()[0]}")
    outputs = job.outputs
    if "violations" in outputs:
        print(f"  flake8 violations: {outputs['violations']}; tests: {outputs.get('passed', '?')} passed, "
              f"{outputs.get('failed', '?')} failed; coverage: {outputs.get('coverage') or 'n/a'}%")
    if not as_expected:
        print("\n".join(f"  | {line}" for line in job.lines[-60:]))
    return as_expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--break", dest="breaking", choices=["lint", "test"],
                        help="make the pull request break flake8 or a unit test (it must be rejected)")
    args = parser.parse_args()

    repo = WORK / "example-project"
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    act.copy_repository(ROOT / "example-project", repo)
    payload = open_pull_request(repo, args.breaking)
    stages = [Stage("Pull request: lint and unit tests", "pull_request", ".github/workflows/pull-request.yml",
                    payload, expect_success=args.breaking is None)]

    print(f"Example project: {repo}\nmlops-actions: {ROOT} (as {LIBRARY})")
    rows, ok = [], True
    for stage in stages:
        started = time.monotonic()
        run = act.run(stage.event, stage.workflow, repo, payload=stage.payload, repositories={LIBRARY: ROOT},
                      env={"MLOPS_ACTIONS_ARTIFACTS": str(WORK / "artifacts")})
        seconds = time.monotonic() - started
        stage_ok = report(stage, run, seconds)
        ok &= stage_ok
        rows.append((stage.name, "passed" if (run.returncode == 0) else "rejected", seconds))

    print("\n| Stage | Outcome | Wall time |\n|---|---|---|")
    for name, outcome, seconds in rows:
        print(f"| {name} | {outcome} | {seconds:.1f} s |")
    print(f"\nArtifacts (test reports): {WORK / 'artifacts'}")
    print("Everything behaved as expected." if ok else "Something did NOT behave as expected (see above).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
