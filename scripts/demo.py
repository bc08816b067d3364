"""The example project's trunk-based pipeline, run through act on this machine, offline, with the local backend.

The example project is copied into a repository of its own (.demo/example-project), as a user's would be;
its generated workflows use this checkout of mlops-actions as OWNER/mlops-actions@v1. A data scientist
opens a pull request (lint and unit tests), merges it, and the push to main runs CI (verify, train,
metrics gate, register) and CD (staging, then production: deploy beside the live deployment, smoke-test,
move the traffic, smoke-test again). The production endpoint keeps serving until `scripts/demo stop`.

Then production serves normal traffic and traffic whose population changed, and the scheduled monitor
workflow runs after each: it passes on the first and reports the drift of the second.

Unhappy paths (--break): lint or test (the pull request is rejected with annotations), gate (the model is
below the metrics gate and is not registered), smoke (after a good release, a model with a training/serving
skew fails its smoke test in staging, is rolled back, and production keeps answering with the good one).
Production approval: GitHub asks the environment's reviewers; here the person running the demo gives it,
or holds production with --hold-production.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_actions import act, local_run
from mlops_actions.backends.local import LocalBackend

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("MLOPS_DEMO_DIR") or ROOT / ".demo").resolve()
REPO = WORK / "example-project"
STATE = WORK / "state"  # the local backend's, as local_run.Session keeps it under WORK
LIBRARY = "OWNER/mlops-actions@v1"
SAMPLE = ROOT / "example-project" / "tests" / "sample-request.json"


@dataclass
class Change:
    """A feature branch: what it edits, and what the pipeline must make of it."""
    branch: str
    message: str
    file: str
    old: str
    new: str
    pr_passes: bool = True
    release_passes: bool = True


HAPPY = Change("feature/tidy-default", "Document the default regularisation rate", "src/model/train.py",
               '    parser.add_argument("--reg-rate", type=float, default=0.01)\n',
               '    parser.add_argument("--reg-rate", type=float, default=0.01,\n'
               '                        help="inverse of LogisticRegression\'s C")\n')
BREAKS = {
    "lint": Change("feature/helper", "Add a helper (with a lint error)", "src/model/train.py", "\n\ndef split_data(",
                   "\n\ndef unused(x) :\n    return x\n\n\ndef split_data(", pr_passes=False),
    "test": Change("feature/base-rate", "Raise the label's base rate (the shipped dataset no longer matches)",
                   "src/model/data.py", "(data.DiabetesPedigree - 0.5) - 0.6)", "(data.DiabetesPedigree - 0.5) - 0.5)",
                   pr_passes=False),
    "gate": Change("feature/regularise", "Regularise much more", "src/model/train.py",
                   'type=float, default=0.01)', 'type=float, default=1000000.0)', release_passes=False),
    "smoke": Change("feature/glucose-units", "Train on glucose in mmol/L (requests still send mg/dL)",
                    "src/model/train.py", "    return train_test_split(data[FEATURES],",
                    "    features = data[FEATURES].assign(PlasmaGlucose=data.PlasmaGlucose // 18)  # mmol/L\n"
                    "    return train_test_split(features,", release_passes=False),
}


def git(*args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Data Scientist", "-c", "user.email=ds@localhost", *args],
                          cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def release(change: Change, hold_production: bool, session: local_run.Session) -> bool:
    """Open a pull request with `change`, merge it if it passes, and run CI and CD; True if all went as
    the change expects."""
    print(f"\nPull request {change.branch}: {change.message}")
    git("checkout", "-q", "-b", change.branch, "main")
    path = REPO / change.file
    text = path.read_text()
    assert change.old in text, f"the demo's change no longer applies to {change.file}"
    path.write_text(text.replace(change.old, change.new, 1))
    git("commit", "-qam", change.message)
    pr = session.run("pull_request", ".github/workflows/pull-request.yml", {
        "number": 1, "pull_request": {"number": 1, "title": change.message, "head": {"ref": change.branch},
                                      "base": {"ref": "main"}}}, "Pull request", hold_production)
    if pr.returncode != 0:
        print("  The pull request is rejected: it is not merged.")
        return not change.pr_passes
    git("checkout", "-q", "main")
    git("merge", "-q", "--ff-only", change.branch)
    print(f"Merged into main ({git('rev-parse', '--short', 'HEAD')}): CI and CD run")
    push = session.run("push", ".github/workflows/ci.yml", {"ref": "refs/heads/main"}, "Push to main",
                       hold_production)
    return (push.returncode == 0) == change.release_passes and change.pr_passes


def send_traffic(rows, glucose_shift: float, requests: int) -> None:
    """Production's clients: `requests` requests of 5 rows drawn from `rows`, glucose moved by the shift."""
    backend = LocalBackend(STATE)
    key = backend.key("diabetes-production")
    columns = list(rows.columns)
    for start in range(requests):
        sample = rows.sample(5, random_state=start)
        sample = sample.assign(PlasmaGlucose=sample.PlasmaGlucose + glucose_shift)
        body = json.dumps({"input_data": {"columns": columns, "index": list(range(5)),
                                          "data": sample.values.tolist()}}).encode()
        backend.invoke("diabetes-production", body, None, key, 30)


def monitoring(session: local_run.Session) -> dict[str, dict]:
    """Production serves normal traffic, then traffic whose population changed (higher glucose); the
    scheduled monitor workflow runs after each. Returns the drift figures of both."""
    import pandas as pd

    rows = pd.read_csv(REPO / "data" / "diabetes.csv").drop(columns=["PatientID", "Diabetic"])
    figures = {}
    for label, shift, requests in (("normal traffic", 0, 40), ("shifted traffic (glucose +45)", 45, 120)):
        print(f"\nProduction serves {requests} requests of {label}; the monitor workflow runs")
        send_traffic(rows, shift, requests)
        session.run("workflow_dispatch", ".github/workflows/monitor.yml", {}, f"Monitor, {label}", False)
        report = json.loads((session.artifacts / "monitoring" / "drift.json").read_text())
        figures[label] = {row["feature"]: {"psi": row["psi"], "ks": row["ks"]} for row in report["features"]}
        drift = figures[label].items()
        print("      " + ", ".join(f"{name} PSI {f['psi']:.3f} KS {f['ks']:.3f}" for name, f in drift))
    return figures


def production_answer() -> tuple[str, str, str]:
    """The production endpoint's URL, model and answer to the sample request."""
    backend = LocalBackend(STATE)
    endpoint = backend.get_endpoint("diabetes-production")
    if endpoint is None or endpoint.live is None:
        return "", "", "(no production deployment)"
    status, text, deployment = backend.invoke(endpoint.name, SAMPLE.read_bytes(), None, backend.key(endpoint.name), 30)
    return endpoint.scoring_uri, endpoint.deployments[deployment or endpoint.live], f"{status} {text}"


def stop() -> int:
    backend = LocalBackend(STATE)
    for name in backend.endpoints():
        backend.delete_endpoint(name)
        print(f"stopped {name}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["run", "stop"], default="run",
                        help="run the pipeline (default), or stop the endpoints it left serving")
    parser.add_argument("--break", dest="breaking", choices=sorted(BREAKS), help="an unhappy path to show")
    parser.add_argument("--hold-production", action="store_true",
                        help="do not approve production: CD stops after staging")
    args = parser.parse_args()
    if args.command == "stop":
        return stop()

    started = time.monotonic()
    stop()  # a previous demo's endpoints
    shutil.rmtree(WORK, ignore_errors=True)
    act.copy_repository(ROOT / "example-project", REPO)
    print(f"Example project: {REPO} (a repository of its own)\nmlops-actions:   {ROOT} (as {LIBRARY})\n"
          f"Local backend:   {STATE}\nProduction approval: "
          + ("held (--hold-production)" if args.hold_production else "given by you, running the demo"))
    # the jobs run with this checkout's Python (.venv), which scripts/bootstrap set up with what they need
    session = local_run.Session(REPO, WORK, Path(sys.executable), {LIBRARY: ROOT})
    stages = session.stages
    changes = [BREAKS[args.breaking]] if args.breaking else [HAPPY]
    if args.breaking == "smoke":
        changes.insert(0, HAPPY)  # a good release first, for production to keep
    ok = all([release(change, args.hold_production, session) for change in changes])
    drift = monitoring(session) if ok and not args.breaking and not args.hold_production else {}
    if drift:  # the monitor must pass on normal traffic and catch the shift
        ok &= [stage.outcome for stage in stages[-2:]] == ["passed", "failed"]
    total = time.monotonic() - started

    print("\n" + session.table(total))
    found = LocalBackend(STATE).client.search_model_versions("name='diabetes-classifier'") if STATE.exists() else []
    versions = sorted(str(v.version) for v in found)
    print(f"\nRegistered model versions: {', '.join(versions) or 'none'}")
    uri, model, answer = production_answer() if STATE.exists() else ("", "", "(nothing deployed)")
    print(f"Production endpoint: {uri or 'none'}" + (f" serving {model}" if model else ""))
    print(f"Sample prediction: {json.loads(SAMPLE.read_text())['input_data']['data']} -> {answer}")
    if uri:
        print("The endpoints keep serving; stop them with: scripts/demo stop")
    print("\nEverything behaved as expected." if ok else "\nSomething did NOT behave as expected (see above).")
    (WORK / "report.json").write_text(json.dumps({  # for the tests, and for anyone who wants the figures
        "ok": ok, "seconds": total, "stages": [dataclasses.asdict(stage) for stage in stages], "drift": drift,
        "versions": versions, "production": {"uri": uri, "model": model, "answer": answer}}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
