"""Runner workers in processes of their own (DC43_RUNNER=worker): they run what pages and commands queue, act on stops
through the row, stop cleanly on SIGTERM and queue a continuous run again, and a run of a worker killed with -9 is
marked `interrupted` by the sweep and queued again once. Across all of it, every order of the landing folder lands
once. Each worker is started by the test and ended by its PID (its process group: Python and its JVM)."""

import signal
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse
from faultlib import child_env, wait_until
from processes import database_url_of_tests
from slices import landed, not_once, published, versions_in_registry

from pipelines.checkpoints import read_progress, waiting_files
from pipelines.runner import start_run, stop_run
from registry.models import MicroBatch, RestartCause, Run, RunStatus
from registry.pipelines import Pipeline

# Two workers' JVMs, then this process's to read every slice back: more than the default 600 s on two busy cores.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.process,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(1800),
]

KEY = "orders-landing"
DATASETS = ("shop.orders", "shop.orders_rejects")
SLOW = 480  # a worker's JVM starts while other tests run Spark on the same two cores (load 20 was seen)


@pytest.fixture
def worker(children, settings):
    """Start `manage.py run_worker` on the test's database and folders; this process queues (DC43_RUNNER=worker)."""
    settings.DC43_RUNNER = "worker"

    def start(*args):
        # Read when the worker starts: fixtures after this one move the data root.
        env = child_env(
            database_url_of_tests(), settings.DC43_DATA_ROOT, settings.DC43_CHECKPOINT_ROOT, DC43_RUNNER="worker"
        )
        return children("run_worker", "--poll", "0.2", *args, env=env)

    return start


@pytest.fixture
def data_root(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")


def fresh(run):
    return Run.objects.get(pk=run.pk)


def ended(run, timeout=SLOW):
    return wait_until(lambda: not fresh(run).is_active and fresh(run), timeout, 0.1, f"run {run.id} to end")


def rows_recorded(run):
    return MicroBatch.objects.filter(run=run, stream="main").aggregate(rows=Sum("row_count"))["rows"] or 0


def feed(files, seed):
    call_command("feed_landing", KEY, files=files, rows=25, bad_ratio=0.1, malformed=1, seed=seed, stdout=StringIO())


def all_files_recorded():
    """Every landing file is in a batch Spark committed, so recorded (a planned batch may still be refused by a stop)."""
    pipeline = Pipeline.objects.get(key=KEY)
    progress = read_progress(pipeline.checkpoint_location())
    # Spark logs a batch's files (sources/) a moment before its offsets: files listed there but in no committed
    # batch (in_flight) are planned, not recorded, even while the offsets say nothing is pending.
    done = progress.pending_batch is None and not progress.in_flight
    return done and waiting_files(pipeline.source_location(), progress.seen_paths()) == []


def test_a_worker_runs_what_the_page_queues_and_acts_on_stops_of_queued_and_running_runs(
    worker, data_root, client, operator
):
    child = worker("--max-runs", "1")
    client.force_login(operator)
    response = client.post(reverse("pipeline-start", args=["streaming-valid"]), {"mode": "window", "seconds": "3"})
    run = Run.objects.get(scenario="streaming-valid")
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    # While the worker hosts its one run, a second one waits in the queue; stopped there, it never starts.
    wait_until(lambda: fresh(run).is_running, SLOW, 0.05, "the worker to claim the run")
    waiting = start_run("streaming-dq-rejects", seconds=3)
    assert fresh(waiting).is_queued
    client.post(reverse("run-stop", args=[waiting.id]))
    waiting = fresh(waiting)
    assert (waiting.status, waiting.owner_pid, waiting.batches.count()) == ("ok", None, 0)
    assert "while queued" in waiting.reason

    run = ended(run)
    assert run.status == RunStatus.OK and run.owner_pid == child.pid
    assert run.spark_master == "local[2]" and run.spark_app_id.startswith("local-")
    assert run.batches.filter(row_count__gt=0).exists()
    html = client.get(run.get_absolute_url()).content.decode()
    assert f"pid {child.pid} on" in html and run.spark_app_id in html and "Queue wait" in html

    # A running run of the worker, stopped through its row from this process.
    going = start_run("streaming-dq-rejects", mode="until-stopped")
    wait_until(lambda: rows_recorded(going), SLOW, 0.1, "the continuous run's first rows")
    asked = time.monotonic()
    stop_run(going, "tester")
    going = ended(going, 60)
    assert time.monotonic() - asked < 15, "the worker must act on the stop at its next poll"
    assert going.status in ("ok", "warn") and going.reason == "stopped by tester"
    assert not Run.objects.filter(status=RunStatus.QUEUED).exists()  # a stop by a person is not a shutdown

    child.signal(signal.SIGTERM)
    assert child.wait(60) == 0, child.tail()
    assert "runner worker stopped" in child.output()


def test_sigterm_stops_a_continuous_run_cleanly_queues_it_again_and_the_next_worker_resumes_it_exactly_once(
    worker, orders_landing, settings
):
    feed(files=3, seed=1)
    first = worker()
    run = start_run(KEY, mode="until-stopped")
    wait_until(lambda: rows_recorded(run), SLOW, 0.1, "the first worker's first rows")

    first.signal(signal.SIGTERM)
    assert first.wait(120) == 0, first.tail()
    run = fresh(run)
    assert run.status in ("ok", "warn") and run.reason == "stopped by worker shutdown"
    assert run.owner_pid == first.pid
    restart = Run.objects.get(status=RunStatus.QUEUED)
    assert (restart.restart_of_id, restart.restart_cause, restart.mode) == (run.id, RestartCause.SHUTDOWN, run.mode)
    assert run.events.filter(kind="requeued", payload__run=str(restart.id)).exists()

    feed(files=2, seed=2)
    second = worker()
    wait_until(lambda: fresh(restart).owner_pid == second.pid, SLOW, 0.1, "the second worker to claim the restart")
    wait_until(all_files_recorded, 2 * SLOW, 0.2, "the second worker to record every file")
    stop_run(restart, "tester")
    restart = ended(restart, 120)
    assert restart.status in ("ok", "warn") and rows_recorded(restart) > 0
    second.signal(signal.SIGTERM)
    assert second.wait(120) == 0, second.tail()

    from pipelines.spark import get_spark  # only now: no JVM of this process competes with the workers'

    expected = landed(orders_landing)
    found = published(get_spark(), versions_in_registry(DATASETS))
    assert found.missing == [] and found.miscounted == []
    assert not_once(expected.orders, found.orders) == {}
    assert not_once(expected.malformed, found.malformed) == {}
    assert found.rows == expected.lines == 5 * 26


def test_a_killed_workers_continuous_run_is_marked_interrupted_and_queued_again_once(worker, orders_landing):
    feed(files=2, seed=3)
    first = worker()
    run = start_run(KEY, mode="until-stopped")
    wait_until(lambda: rows_recorded(run), SLOW, 0.1, "the first worker's first rows")
    first.kill()  # kill -9, the worker and its JVM

    [marked] = Run.objects.mark_interrupted_orphans()
    assert marked == run and fresh(run).status == RunStatus.INTERRUPTED
    restart = Run.objects.get(status=RunStatus.QUEUED)
    assert (restart.restart_of_id, restart.restart_cause) == (run.id, RestartCause.INTERRUPTED)
    assert [e.kind for e in run.events.order_by("seq")][-2:] == ["complete", "requeued"]

    feed(files=1, seed=4)
    second = worker()
    wait_until(lambda: fresh(restart).owner_pid == second.pid, SLOW, 0.1, "the second worker to claim the restart")
    wait_until(all_files_recorded, 2 * SLOW, 0.2, "the second worker to record every file")
    wait_until(lambda: rows_recorded(restart), SLOW, 0.1, "the restart's rows")
    second.kill()

    # The restart died too: marked, and not queued again.
    assert Run.objects.mark_interrupted_orphans() == [fresh(restart)]
    assert not Run.objects.filter(status=RunStatus.QUEUED).exists()
