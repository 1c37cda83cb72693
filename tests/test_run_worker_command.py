"""`manage.py run_worker`: its usage errors, and SQLite's one worker (said at the start, a second one refused).

A worker claiming and running real runs, its SIGTERM and its kill -9 are in tests/faults/test_runner_worker.py."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from pipelines.management.commands.run_worker import SQLITE_ONE_WORKER, Command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("args", [["--max-runs", "0"], ["--poll", "0"]])
def test_a_worker_needs_room_for_one_run_and_a_poll_above_zero(args):
    with pytest.raises(CommandError, match="--max-runs must be 1 or more and --poll above 0"):
        call_command("run_worker", *args)


def test_on_sqlite_a_worker_says_it_is_the_only_one_and_a_second_worker_is_refused():
    if connection.vendor != "sqlite":
        pytest.skip("the one-worker lock is SQLite's; PostgreSQL shares the queue with SKIP LOCKED")
    first = Command(stdout=StringIO())
    lock = first.one_worker_on_sqlite()
    try:
        assert SQLITE_ONE_WORKER in first.stdout._out.getvalue()
        with pytest.raises(CommandError, match="another runner worker already uses this SQLite database") as refused:
            call_command("run_worker", stdout=StringIO())
        assert refused.value.returncode == 2
    finally:
        lock.close()
    # Once the first one is gone (the kernel drops its lock, even after kill -9), another may start.
    again = Command(stdout=StringIO()).one_worker_on_sqlite()
    again.close()


def test_on_postgresql_no_lock_is_taken():
    if connection.vendor == "sqlite":
        pytest.skip("PostgreSQL only")
    assert Command(stdout=StringIO()).one_worker_on_sqlite() is None
