"""Process bookkeeping of the local backend, through psutil (Linux and macOS)."""

import os
import signal
import subprocess
import sys
import time

from mlops_actions.backends import processes


def test_alive_means_running_and_ours_not_a_zombie_nor_a_reused_pid(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "marker-of-this-test"])
    try:
        deadline = time.monotonic() + 10  # until the forked child has become python (exec)
        while not processes.alive(child.pid, "marker-of-this-test") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.alive(child.pid, "marker-of-this-test")
        assert not processes.alive(child.pid, "marker-of-another-server")  # a reused PID is not ours
        os.kill(child.pid, signal.SIGKILL)
        time.sleep(0.5)  # not reaped: a zombie until waited for
        assert not processes.alive(child.pid, "marker-of-this-test")
    finally:
        child.kill()
        child.wait()
    assert not processes.alive(child.pid, "marker-of-this-test") and not processes.alive(None, "x")


def test_stop_all_under_stops_what_runs_from_a_folder_and_nothing_else(tmp_path):
    inside, outside = tmp_path / "state", tmp_path / "elsewhere"
    inside.mkdir(), outside.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours, other = subprocess.Popen(sleeper, cwd=inside), subprocess.Popen(sleeper, cwd=outside)
    try:
        assert processes.stop_all_under(inside) == [ours.pid]
        assert ours.wait(timeout=10) == -signal.SIGTERM and other.poll() is None
    finally:
        for process in (ours, other):
            process.kill()
            process.wait()
