"""A clean stop goes through the run's row: any process may ask (`Run.request_stop`, `stop_run`, `manage.py
stop_run`), the owning runner notices within half a second, lets the batch in flight be recorded, and ends the run with
the verdict of its data and a reason that says who stopped it."""

import os
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from processes import database_url_of_tests
from simulate import SimulatedRun

from pipelines.runner import start_run, stop_run, wait_for
from registry.models import Run

ROOT = Path(__file__).resolve().parent.parent


def stop_command(*args):
    out = StringIO()
    try:
        call_command("stop_run", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


@pytest.mark.django_db
def test_a_stop_request_is_recorded_once_with_who_asked_and_the_run_says_it_is_stopping():
    run = SimulatedRun().start().run
    assert not run.stopping

    assert run.request_stop("alice") is True
    assert run.request_stop("bob") is False

    run.refresh_from_db()
    assert run.stopping and run.stop_requested_by == "alice" and run.stop_requested_at is not None
    events = list(run.events.filter(kind="stop_requested").values_list("payload", flat=True))
    assert events == [{"by": "alice"}]


@pytest.mark.django_db
def test_a_finished_run_cannot_be_asked_to_stop():
    run = SimulatedRun().start().run
    run.finish("ok")
    assert run.request_stop("alice") is False
    run.refresh_from_db()
    assert (run.stop_requested_at, run.stopping) == (None, False)
    assert not run.events.filter(kind="stop_requested").exists()


@pytest.mark.django_db
def test_the_command_asks_a_running_run_to_stop():
    run = SimulatedRun().start().run
    code, out = stop_command(str(run.id))
    assert code == 0 and "stop requested" in out
    run.refresh_from_db()
    assert run.stop_requested_by == "manage.py stop_run"


@pytest.mark.django_db
@pytest.mark.parametrize("run_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_the_command_refuses_a_run_that_does_not_exist(run_id):
    code, message = stop_command(run_id)
    assert (code, message) == (2, f"no run {run_id}")


@pytest.mark.django_db
def test_the_command_says_when_the_run_already_ended():
    run = SimulatedRun().start().run
    run.finish("warn")
    assert stop_command(str(run.id)) == (0, f"run {run.id} already ended: warn\n")


@pytest.fixture
def data_root(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return tmp_path


def wait_for_batches(run, count, seconds=120):
    deadline = time.monotonic() + seconds
    while run.batches.filter(row_count__gt=0).count() < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.batches.filter(row_count__gt=0).count() >= count


def assert_stopped_cleanly(run, by, status):
    run.refresh_from_db()
    assert (run.status, run.reason, run.mode) == (status, f"stopped by {by}", "until-stopped")
    kinds = list(run.events.order_by("seq").values_list("kind", flat=True))
    assert kinds[-1] == "complete" and kinds.count("stop_requested") == 1
    assert kinds.index("stop_requested") < kinds.index("complete")
    # Every batch Spark started was recorded, with its event, before `complete`.
    assert run.events.filter(kind="batch").count() == run.batches.count()
    assert not Path(run.checkpoint).parent.exists()  # a rate source's checkpoint of its own is removed


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_run_until_stopped_stopped_from_another_thread_ends_with_its_datas_verdict(spark, data_root):
    run = start_run("streaming-dq-rejects", mode="until-stopped")
    wait_for_batches(run, 1)
    asked = []
    asking = threading.Thread(target=lambda: asked.append(stop_run(Run.objects.get(pk=run.pk), "alice")))
    asking.start()
    asking.join()
    assert asked == [True]
    assert wait_for(run, 60)
    assert_stopped_cleanly(run, "alice", "warn")


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_run_is_stopped_by_manage_py_stop_run_from_another_process(spark, data_root):
    run = start_run("streaming-valid", mode="until-stopped")
    wait_for_batches(run, 1)
    env = {**os.environ, "DATABASE_URL": database_url_of_tests()}
    done = subprocess.run(
        [sys.executable, "manage.py", "stop_run", str(run.id)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert wait_for(run, 60)
    assert_stopped_cleanly(run, "manage.py stop_run", "ok")
