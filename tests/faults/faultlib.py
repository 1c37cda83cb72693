"""Helpers of the fault tests: a PostgreSQL of their own, site commands in child processes a test may kill.

Every process here is started by the test and ended by its PID (a child's whole process group: Python and the
Spark JVM it launched), never by name.
"""

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from glob import glob
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout, interval=0.05, what="the condition"):
    """Poll until `condition()` is truthy and return its value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"waited {timeout} s for {what}")


class Child:
    """`manage.py ARGS` in a process group of its own, its output in a log file (a pipe could fill and stall it)."""

    def __init__(self, args, env, log_path):
        self.args = [str(a) for a in args]
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in wait()/kill()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *self.args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches the JVM it starts, as a crash of the host would
        )

    @property
    def pid(self):
        return self.process.pid

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return self.process.poll() is None

    def wait(self, timeout):
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is not None:
                self.log.close()

    def signal(self, signum):
        if self.alive():
            os.kill(self.pid, signum)

    def kill(self):
        """SIGKILL the whole group (the command and its JVM) and wait until every member is gone."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.log.close()

    def tail(self, chars=4000):
        return self.output()[-chars:]


def child_env(database_url, data_root, checkpoint_root, **extra):
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        DC43_DATA_ROOT=str(data_root),
        DC43_CHECKPOINT_ROOT=str(checkpoint_root),
        DC43_WARM_SPARK="0",
        PYTHONUNBUFFERED="1",
        **{key: str(value) for key, value in extra.items()},
    )


def postgres_bin(name):
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.skip(f"no PostgreSQL server binaries ({name}) under /usr/lib/postgresql")
    return found[-1]


class PostgresServer:
    """A PostgreSQL cluster of this test's own, in a temporary folder, on a free loopback port.

    As root the server runs as the `postgres` user (PostgreSQL refuses root), started directly as that user so
    that the PID we hold is the postmaster's own: SIGINT to it is a fast shutdown."""

    def __init__(self, root):
        self.root = Path(root)
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = free_port()
        self.process = None
        self.log = self.root / "postgres.log"
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")

    def _as_server_user(self):
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def init(self):
        self.sockets.mkdir(parents=True)
        if self.user is not None:
            for path in (self.root, self.sockets):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        subprocess.run(
            [postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=self.root,
            **self._as_server_user(),
        )
        return self

    def start(self):
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [
                    postgres_bin("postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
                **self._as_server_user(),
            )
        wait_until(self.accepts, 30, 0.1, f"PostgreSQL on port {self.port} to accept connections")
        return self

    def accepts(self):
        try:
            with psycopg.connect(**self.params("postgres"), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self):
        """Fast shutdown (SIGINT to the postmaster): every session is cut, as a restart by an operator does."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def params(self, dbname):
        return {"host": "127.0.0.1", "port": self.port, "user": "postgres", "dbname": dbname}

    def url(self, dbname):
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name):
        with psycopg.connect(**self.params("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, dbname, sql, *args):
        with psycopg.connect(**self.params(dbname), connect_timeout=2) as conn:
            return conn.execute(sql, args).fetchall()
