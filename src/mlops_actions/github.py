"""The runner protocol: step outputs, the job summary, annotations, masking and log groups.

On a runner (GITHUB_ACTIONS=true) these write the workflow commands and files GitHub reads.
Elsewhere the same calls print a readable terminal report, so a person gets the same information.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import uuid
from pathlib import Path

LEVELS = ("error", "warning", "notice")


def on_runner() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


class LineTracker:
    """Standard output that knows whether its last line is ended: a workflow command is read only at the
    start of a line, and azure-ai-ml prints a dot per poll with no newline."""

    def __init__(self, stream):
        self.stream, self.at_line_start = stream, True

    def write(self, text: str) -> int:
        if text:
            self.at_line_start = text.endswith("\n")
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def track_stdout() -> None:
    if not isinstance(sys.stdout, LineTracker):
        sys.stdout = LineTracker(sys.stdout)


def end_line() -> None:
    """End a line something else left open, so that what follows starts a line."""
    if isinstance(sys.stdout, LineTracker) and not sys.stdout.at_line_start:
        print(flush=True)


def emit(line: str) -> None:
    """Print a workflow command (or any line) at the start of a line."""
    end_line()
    print(line, flush=True)


def escape_data(text: str) -> str:
    """Escape a workflow command's message (after `::`)."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (file=, title=, ...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties) -> str:
    """Format a workflow command: `::name key=value,...::message`; None-valued properties are left out."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def annotate(level: str, message: str, *, file: str | None = None, line: int | None = None,
             col: int | None = None, end_line: int | None = None, title: str | None = None) -> None:
    """Show a message in the log and, on a runner, as an annotation on a file's line."""
    if level not in LEVELS:
        raise ValueError(f"annotation level must be one of {LEVELS}, not {level!r}")
    if on_runner():
        emit(command(level, message, file=file, line=line, endLine=end_line, col=col, title=title))
        return
    where = ":".join(str(part) for part in (file, line, col) if part is not None)
    head = " ".join(part for part in (where + ":" if where else "", level, f"[{title}]" if title else "") if part)
    emit(f"{head} {message}")


def error(message: str, **where) -> None:
    annotate("error", message, **where)


def warning(message: str, **where) -> None:
    annotate("warning", message, **where)


def mask(secret: str) -> None:
    """Ask the runner to hide a value in every later log line (multi-line values line by line)."""
    if on_runner():
        for part in str(secret).splitlines():
            if part.strip():
                emit(command("add-mask", part))


@contextlib.contextmanager
def untrusted_output():
    """What a tool prints inside this block (pytest, flake8, a training script: the project's code and its
    names) cannot issue workflow commands: on a runner it is wrapped in a stop-commands block whose token it
    cannot guess, and commands resume after it."""
    if not on_runner():
        yield
        return
    token = secrets.token_hex(16)
    emit(f"::stop-commands::{token}")
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        emit(f"::{token}::")


@contextlib.contextmanager
def group(title: str):
    """A foldable section of the log; a plain heading at a terminal."""
    emit(f"::group::{escape_data(title)}" if on_runner() else f"── {title}")
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        if on_runner():
            emit("::endgroup::")


def set_output(name: str, value) -> None:
    """Write a step output; multi-line values use a delimiter that cannot occur in them."""
    value = "" if value is None else str(value)
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        print(f"output {name}: {value}", flush=True)
        return
    with open(path, "a", encoding="utf-8") as out:
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            out.write(f"{name}={value}\n")


def set_outputs(outputs: dict) -> None:
    for name, value in outputs.items():
        set_output(name, value)


def add_summary(markdown: str) -> None:
    """Append Markdown to the job summary; print it at a terminal."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        print("\n" + markdown.rstrip() + "\n", flush=True)
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(markdown.rstrip() + "\n\n")


def workspace() -> Path:
    """The folder annotation paths are relative to: the repository on a runner, else the current one."""
    return Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()


def relative_to_workspace(path: str | Path, base: Path | None = None) -> str:
    """A path (relative to `base`, default the current folder) as GitHub wants it in an annotation."""
    full = Path(base or os.getcwd(), path).resolve()
    try:
        return full.relative_to(workspace()).as_posix()
    except ValueError:
        return full.as_posix()


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


class ActionError(Exception):
    """A failure to report as one error annotation with a title (no traceback)."""

    def __init__(self, title: str, message: str):
        self.title = title
        super().__init__(message)

    def report(self) -> None:
        error(str(self), title=self.title)
