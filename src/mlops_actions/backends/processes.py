"""Background servers that outlive the step, the job and act: started in a session of their own,
recorded by PID and command line, stopped by process group. A deployment's server listens on a unix socket
in a folder only its user can enter, so that nothing but the endpoint's router (which checks the key)
reaches it. Processes that change the same state take turns through exclusive(), a lock on a file."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Held by one process at a time (across processes, as long as the block runs): a lock on `lock_file`."""
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def socket_path(*names: str) -> Path:
    """A unix socket for a server: short (sockets are limited to 108 bytes), in a folder of this user's
    alone (0700, not a link, owned by this user)."""
    folder = Path(tempfile.gettempdir()) / f"mlops-actions-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise RuntimeError(f"{folder} is not a private folder of this user's: remove it, and it is made again")
    return folder / (hashlib.sha256("\0".join(names).encode()).hexdigest()[:20] + ".sock")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP to a server on a unix socket."""

    def __init__(self, path: str, timeout: float = 120):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def start(command: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `command` detached (its own session, so a step's end does not hang it up)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def alive(pid: int | None, marker: str) -> bool:
    """Whether `pid` runs and is still ours (its command line contains `marker`; PIDs are reused)."""
    import psutil  # Linux and macOS alike

    if not pid:
        return False
    try:
        return marker in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:  # gone, a zombie (psutil.ZombieProcess), or not ours to read
        return False


def stop(pid: int | None, marker: str, grace: float = 10.0) -> None:
    """Stop the process group `pid` leads: SIGTERM, then SIGKILL after `grace` seconds."""
    if not alive(pid, marker) or pid is None:  # alive() is False without a pid: this tells mypy so
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            except ChildProcessError:
                finished = 0
            if finished or not alive(pid, marker):
                return
            time.sleep(0.05)


def healthy(url: str) -> bool:
    """Whether the server at `url` (http://... or unix:/path) answers GET / with 200."""
    try:
        if url.startswith("unix:"):
            connection = UnixHTTPConnection(url.removeprefix("unix:"), timeout=2)
            try:
                connection.request("GET", "/")
                return connection.getresponse().status == 200
            finally:
                connection.close()
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_all_under(folder: Path) -> list[int]:
    """Stop every process of this user's that runs from `folder` (its working directory is in it, or its
    command line names it): what a record that can no longer be read had started."""
    import psutil

    folder = folder.resolve()
    stopped = []
    for process in psutil.process_iter():
        try:
            if process.pid == os.getpid() or process.uids().real != os.getuid():
                continue
            cwd, command_line = Path(process.cwd()), " ".join(process.cmdline())
            if cwd == folder or cwd.is_relative_to(folder) or str(folder) in command_line:
                process.terminate()
                stopped.append(process.pid)
        except (psutil.Error, OSError):  # gone, or not ours to read
            continue
    return stopped


def wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> bool:
    """Poll `url` until it answers 200, the process ends, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if healthy(url):
            return True
        time.sleep(0.1)
    return False


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
