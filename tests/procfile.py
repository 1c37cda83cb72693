"""The Procfile's processes, started by the tests from the very lines the Procfile holds.

A line runs as `bash -c "exec LINE"` in the checkout, in a process group of its own, with this Python's folder
first on PATH (so `python` and `daphne` are the venv's, as an activated virtualenv makes them for an operator).
Every process is stopped by its PID: SIGTERM to it, then SIGKILL to whatever is left of its group.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^([A-Za-z0-9_.-]+):\s*(.+)$")


def procfile_lines(path=ROOT / "Procfile"):
    """{process name: command line} of the Procfile (comments and blank lines skipped, as foreman does)."""
    return {m[1]: m[2].strip() for m in map(LINE.match, Path(path).read_text().splitlines()) if m}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, timeout=60):
    """Wait until something accepts connections on loopback `port`; fail early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.alive(), f"{process.name} ended before opening port {port}:\n{process.tail()}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"{process.name} did not open port {port} in {timeout} s:\n{process.tail()}")


class Process:
    """One Procfile line running, its output in a log file (a pipe nobody reads could fill and stall it)."""

    def __init__(self, name, env, log_folder):
        self.name = name
        self.command = procfile_lines()[name]
        self.log_path = Path(log_folder) / f"{name}.log"
        env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.defpath)}")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", f"exec {self.command}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a stop reaches what it started (a JVM, executors)
            )

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def tail(self, chars=4000):
        return self.log_path.read_text(errors="replace")[-chars:]

    def kill(self):
        """SIGKILL the process itself only, as a crash of it would be."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, grace=20):
        """SIGTERM to the process (a runner worker then stops its runs and its Spark), SIGKILL to its group after."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        for signum, wait in ((None, grace), (signal.SIGKILL, 30)):
            if signum is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signum)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.process.poll()  # reap the leader, or the group stays alive as a zombie
                try:
                    os.killpg(self.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
