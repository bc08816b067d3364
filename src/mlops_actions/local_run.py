"""The local command: run a project's generated workflows on this machine through act, with the local backend.

For a repository with mlops.yml and the workflows `generate` wrote, it
- maps the library the workflows use (library.repository at each ref they name) to this installation's
  checkout, and the pinned third-party actions to offline stand-ins;
- writes the event: a pull request from a branch, a push to the trunk (CI, then CD), CD by hand for a model
  version, the monitor;
- keeps the local backend's state and the jobs' artifacts in one folder (state-dir);
- runs the jobs with a Python of its own (a virtual environment cached per Python and library version, into
  which the workflows install what they need), never the one running this command;
- holds production when mlops.yml asks for its approval, unless approve-production is true;
- prints each job as it ends, then a table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlops_actions import __version__, github, paths
from mlops_actions.github import ActionError
from mlops_actions.inputs import Input, Inputs

LIBRARY_ROOT = Path(__file__).resolve().parents[2]  # a checkout: action.yml, actions/, src/
EVENTS = ("pull-request", "push", "cd", "monitor")
WORKFLOWS = {"pull-request": "pull-request.yml", "push": "ci.yml", "cd": "cd.yml", "monitor": "monitor.yml"}

INPUTS = [
    Input("event", "What happens: pull-request (lint and unit tests), push (to the trunk: CI, then CD), cd (CD by "
          "hand for model-version), monitor.", "push", choices=EVENTS),
    Input("branch", "pull-request: the branch to test. Empty: the current branch."),
    Input("model-version", "cd: the version to deploy.", "latest"),
    Input("approve-production", "Deploy to production when mlops.yml asks for its approval (as a reviewer would "
          "approve it on GitHub); otherwise CD stops after staging ('true' or 'false').", "false"),
    Input("config", "The project's mlops.yml.", "mlops.yml"),
    Input("state-dir", "The folder of the local backend's state and the jobs' artifacts. Empty: "
          "~/.mlops-actions/local/<repository folder>."),
    Input("runner-python", "The Python the jobs run with. Empty: a virtual environment of this command's own, "
          "cached under ~/.cache/mlops-actions/runner."),
    Input("timeout-minutes", "How long the workflow may run before act and its jobs are stopped.", "60"),
]
OUTPUTS = {"report": "A JSON report of the run: each job's outcome, time and annotations."}


@dataclass
class Stage:
    name: str
    outcome: str
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class Session:
    """One project's workflows, run through act with this library and one state folder."""
    repo: Path
    state: Path
    python: Path
    library: dict[str, Path]  # owner/name@ref -> folder
    stages: list[Stage] = field(default_factory=list)

    @property
    def artifacts(self) -> Path:
        return self.state / "artifacts"

    def run(self, event: str, workflow: str, payload: dict, label: str, hold_production: bool,
            repo: Path | None = None, timeout: float = 3600):
        """Run `workflow` for the GitHub `event`; each job is printed, and kept as a stage, as it ends."""
        from mlops_actions import act

        def job_ended(name: str, job) -> None:
            notes = [f"{a.level}: {a.file + ':' + str(a.line) + ' ' if a.file else ''}[{a.title}] "
                     f"{a.message.splitlines()[0] if a.message else ''}" for a in job.annotations]
            passed = job.result == "succeeded"
            self.stages.append(Stage(f"{label}: {name}", "passed" if passed else "failed", job.seconds, notes))
            print(f"  {'✓' if passed else '✗'} {label}: {name} ({job.seconds:.1f} s)", flush=True)
            for note in notes:
                print(f"      {note}")

        return act.run(event, workflow, repo or self.repo, payload=payload, repositories=self.library,
                       env={"MLOPS_ACTIONS_STATE": str(self.state / "state"),
                            "MLOPS_ACTIONS_ARTIFACTS": str(self.artifacts)},
                       variables={"MLOPS_HOLD_PRODUCTION": str(hold_production).lower()}, on_job_end=job_ended,
                       python=self.python, timeout=timeout)

    def table(self, total: float) -> str:
        rows = [f"| {s.name} | {s.outcome} | {s.seconds:.1f} s | {100 * s.seconds / total:.0f}% |" for s in self.stages]
        return "\n".join(["| Job | Outcome | Wall time | Share |", "|---|---|---|---|", *rows,
                          f"| Total | | {total:.1f} s | 100% |"])


def library_folders(workflows: list[Path], repository: str) -> dict[str, Path]:
    """Every ref at which the workflows use `repository`, mapped to this library's checkout."""
    if not (LIBRARY_ROOT / "actions" / "run.sh").is_file():
        raise ActionError("No library checkout", f"the local command runs the workflows with this installation's "
                          f"actions, and {LIBRARY_ROOT} is not a checkout of mlops-actions. Fix: install "
                          "mlops-actions from a clone (pip install -e '<clone>[act]').")
    uses = re.compile(rf"uses:\s*{re.escape(repository)}(?:/[\w./-]+)?@([\w.-]+)")
    refs = {ref for workflow in workflows for ref in uses.findall(workflow.read_text())}
    return {f"{repository}@{ref}": LIBRARY_ROOT for ref in sorted(refs)}


def runner_python(inputs: Inputs) -> Path:
    """The Python the jobs run with: runner-python, else a virtual environment of its own, cached per Python
    and library version (the workflows install into it what they need, as on a fresh runner)."""
    if inputs["runner-python"]:
        given = Path(os.path.abspath(user_path(inputs, "runner-python")))  # not resolved: a venv's is a link
        if not os.access(given, os.X_OK) or given.is_dir():
            raise inputs.error("runner-python", "not a Python this user can run", "give a python executable's path")
        return given
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "mlops-actions" / "runner"
    venv = cache / f"python{sys.version_info[0]}.{sys.version_info[1]}-mlops-actions-{__version__}"
    if not (venv / "bin" / "python").exists():
        print(f"Creating the jobs' Python environment: {venv}", flush=True)
        partial = venv.with_name(venv.name + ".partial")  # renamed when complete: an interrupted one is redone
        made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(partial)], capture_output=True, text=True)
        if made.returncode != 0:
            raise ActionError("No Python environment for the jobs", f"{sys.executable} -m venv failed: "
                              f"{(made.stderr or made.stdout).strip()[-500:]} Fix: install Python's venv module "
                              "(e.g. the python3-venv package), or give runner-python.")
        partial.rename(venv)
    return venv / "bin" / "python"


def user_path(inputs: Inputs, name: str) -> Path:
    try:
        return paths.usable(name, inputs[name], Path(inputs[name]).expanduser())
    except RuntimeError:  # ~user of no such user
        raise inputs.error(name, "a home folder that does not exist", "give an existing path") from None


def payload(event: str, trunk: str, branch: str, model_name: str, version: str) -> tuple[str, dict]:
    """The GitHub event name and payload act is given."""
    if event == "pull-request":
        return "pull_request", {"number": 1, "pull_request": {"number": 1, "title": f"Local run of {branch}",
                                                              "head": {"ref": branch}, "base": {"ref": trunk}}}
    if event == "push":
        return "push", {"ref": f"refs/heads/{trunk}"}
    if event == "cd":
        return "workflow_dispatch", {"inputs": {"model-name": model_name, "model-version": version}}
    return "workflow_dispatch", {}


def current_branch(repo: Path) -> str:
    found = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=repo, capture_output=True, text=True)
    if found.returncode != 0:
        raise ActionError("Not a git repository", f"{repo} is not a git repository with a commit (act reads the "
                          "commit and branch from git). Fix: git init, then commit.")
    return found.stdout.strip()


def run(inputs: Inputs) -> int:
    from mlops_actions import config as project_config

    event = inputs.choice("event")
    approve = inputs.flag("approve-production")
    timeout = inputs.defaulted_number("timeout-minutes", low=1, high=24 * 60) * 60
    config_path = paths.confined("config", inputs["config"], Path(inputs["config"] or "mlops.yml"))
    c = project_config.load(config_path)
    repo = config_path.parent
    workflows = repo / ".github" / "workflows"
    workflow = workflows / WORKFLOWS[event]
    if not workflow.is_file():
        extra = " (and add a monitor: block to mlops.yml)" if event == "monitor" else ""
        raise ActionError("Workflow not generated", f"{workflow} does not exist. Fix: run `mlops-actions generate`"
                          f"{extra} in {repo}.")
    if c["backend"] != "local":
        github.warning(f"{config_path.name} uses the {c['backend']} backend: the jobs will call Azure ML, and "
                       "the azure/login they use here is an offline stand-in that signs nothing in. Fix: set "
                       "backend: local to run everything on this machine.", title="Backend")
    current = current_branch(repo)
    branch = inputs["branch"] or current
    if event == "push" and branch != c["branch"]:
        github.warning(f"The push runs the current checkout of {branch} as if it were the trunk {c['branch']}: "
                       f"check out {c['branch']} to run what the trunk has.", title="Not the trunk")
    elsewhere = event == "pull-request" and branch != current  # tested from a worktree of its own
    if elsewhere:
        known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], cwd=repo)
        if known.returncode != 0:
            raise inputs.error("branch", f"not a branch of {repo}", "give a local branch's name")
    digest = hashlib.sha256(str(repo).encode()).hexdigest()[:8]  # two clones of one name keep apart
    state = (user_path(inputs, "state-dir") if inputs["state-dir"] else
             Path(f"~/.mlops-actions/local/{repo.name}-{digest}").expanduser()).resolve()
    if state.exists() and not state.is_dir():
        raise inputs.error("state-dir", "a file, not a folder", "give a folder (it is created if missing)")
    hold = bool(c["environments"]["production"].get("approval")) and not approve
    session = Session(repo, state, runner_python(inputs),
                      library_folders(sorted(workflows.glob("*.yml")), c["library"]["repository"]))

    name, body = payload(event, c["branch"], branch, c["model"]["name"], inputs["model-version"])
    print(f"Repository: {repo} ({branch})\nLibrary: {LIBRARY_ROOT}\nState and artifacts: {state}\n"
          f"Jobs' Python: {session.python}\nProduction: "
          + ("held until approved (approve-production: true)" if hold else "deployed without a hold"), flush=True)
    started = time.monotonic()
    with checkout_of(repo, branch if elsewhere else "") as checkout:
        result = session.run(name, f".github/workflows/{WORKFLOWS[event]}", body, event, hold, checkout, timeout)
    total = time.monotonic() - started
    print()
    print(session.table(total))
    if hold and event in ("push", "cd") and result.returncode == 0:
        print("\nProduction was held: mlops.yml asks for its approval. Approve it with --approve-production true.")
    report = state / "report.json"
    state.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"event": event, "returncode": result.returncode, "seconds": total,
                                  "stages": [dataclasses.asdict(stage) for stage in session.stages]}, indent=2))
    github.set_output("report", report)
    if result.timed_out:
        raise ActionError("Local run stopped", f"the workflow ran longer than timeout-minutes "
                          f"({inputs['timeout-minutes']}); act and its jobs were stopped. Fix: raise timeout-minutes.")
    return 0 if result.returncode == 0 else 1


@contextlib.contextmanager
def checkout_of(repo: Path, branch: str):
    """The repository itself, or (given a branch: another than the current one) a temporary git worktree of it."""
    if not branch:
        yield repo
        return
    folder = Path(tempfile.mkdtemp(prefix="mlops-actions-pr-")) / repo.name
    added = subprocess.run(["git", "worktree", "add", "-q", str(folder), branch], cwd=repo, capture_output=True,
                           text=True)
    try:
        if added.returncode != 0:
            raise ActionError("Branch not checked out", f"git worktree add {branch} failed: {added.stderr.strip()} "
                              "Fix: give a branch not checked out in another worktree.")
        yield folder
    finally:
        if added.returncode == 0:
            subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=repo, check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)
