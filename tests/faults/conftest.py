"""Fixtures of the fault tests: site commands in child processes, and a PostgreSQL of the test's own.

The helpers behind them live in faultlib.py, which the tests import too.
"""

import shutil
import tempfile

import pytest
from faultlib import Child, PostgresServer


@pytest.fixture
def children(tmp_path):
    """Start site commands as child processes; whatever is still running at the end is killed, by its group."""
    started = []

    def start(*args, env):
        child = Child(args, env, tmp_path / f"child-{len(started):02d}-{args[0]}.log")
        started.append(child)
        return child

    yield start
    for child in started:
        if child.alive():
            child.kill()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test alone; stopped by its PID and removed at the end."""
    root = tempfile.mkdtemp(prefix="dc43-pg-")  # not under pytest's tmp_path: the postgres user must reach it
    server = PostgresServer(root).init().start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
