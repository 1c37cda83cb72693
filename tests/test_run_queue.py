"""The registry as the runner workers' queue: with DC43_RUNNER=worker a start only records a `queued` run; workers
claim the oldest first, each run once (SKIP LOCKED on PostgreSQL); a queued run holds its pipeline and counts against
the site's limit; a stop ends it before it starts; a dead worker's continuous run goes back to the queue once."""

import os
import threading

import pytest
from django.db import connection, transaction

from pipelines.runner import RunRefused, runner_for, start_run, stop_run, wait_for
from registry.models import EventKind, RestartCause, Run, RunStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_mode(settings):
    settings.DC43_RUNNER = "worker"


def events(run):
    return list(run.events.order_by("seq").values_list("kind", flat=True))


def test_a_start_in_worker_mode_records_a_queued_run_without_owner_and_starts_no_thread(worker_mode, operator):
    run = start_run("streaming-valid", user=operator, via="user")

    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.is_active and not run.is_running
    assert run.owner_pid is None and run.owner_host == "" and run.queued_at is not None
    assert runner_for(run) is None
    started = run.events.get()
    assert (started.kind, started.payload["queued"], started.payload["seconds"]) == ("started", True, 8)


def test_workers_claim_the_oldest_queued_run_first_and_each_once(worker_mode):
    first = start_run("streaming-dq-rejects")
    second = start_run("streaming-valid")

    claimed = Run.objects.claim_next()
    assert claimed == first
    assert Run.objects.claim_next() == second
    assert Run.objects.claim_next() is None


def test_a_claim_makes_this_process_the_owner_and_says_how_long_the_run_waited(worker_mode):
    queued = start_run("streaming-valid")

    run = Run.objects.claim_next()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.owner_pid == os.getpid() and run.heartbeat_at
    assert run.started_at >= run.queued_at == queued.queued_at
    assert run.queue_wait_seconds >= 0
    claimed = run.events.get(kind=EventKind.CLAIMED).payload
    assert claimed["pid"] == os.getpid() and claimed["waited"] >= 0


def test_a_queued_run_holds_its_pipeline_against_a_second_start(worker_mode):
    queued = start_run("streaming-valid")
    with pytest.raises(RunRefused, match="already has an active run") as refusal:
        start_run("streaming-valid")
    assert refusal.value.active_run == queued


def test_the_database_itself_refuses_a_second_queued_run_of_a_pipeline(worker_mode):
    from django.db import IntegrityError

    queued = start_run("streaming-valid")
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(pipeline=queued.pipeline, scenario="streaming-valid", status=RunStatus.QUEUED)


def test_queued_runs_count_against_the_sites_limit(worker_mode, settings):
    settings.DC43_MAX_ACTIVE_RUNS = 1
    start_run("streaming-valid")
    with pytest.raises(RunRefused, match="DC43_MAX_ACTIVE_RUNS=1"):
        start_run("streaming-dq-rejects")


def test_stopping_a_queued_run_ends_it_before_any_worker_claims_it(worker_mode):
    run = start_run("streaming-valid")

    assert stop_run(run, "alice") is True
    run.refresh_from_db()
    assert run.status == RunStatus.OK and run.finished_at
    assert run.reason == "stopped by alice while queued, before it started"
    assert events(run) == ["started", "stop_requested", "complete"]
    assert Run.objects.claim_next() is None
    assert wait_for(run, 1) is True


def continuous_claimed_run():
    run = start_run("orders-landing", mode="until-stopped")
    assert Run.objects.claim_next() == run
    run.refresh_from_db()
    return run


def test_a_dead_workers_continuous_run_goes_back_to_the_queue_once_with_the_restart_recorded(worker_mode):
    run = continuous_claimed_run()

    assert run.interrupt("its process is no longer running") is True
    restart = Run.objects.get(pipeline=run.pipeline, status=RunStatus.QUEUED)
    assert (restart.restart_of, restart.restart_cause, restart.mode) == (run, RestartCause.INTERRUPTED, run.mode)
    assert events(run)[-2:] == ["complete", "requeued"]
    assert run.events.get(kind="requeued").payload["run"] == str(restart.id)
    assert restart.events.get().payload["restart_of"] == str(run.id)

    # The restart dies too: it is not queued again, so a pipeline that kills its worker cannot loop.
    assert Run.objects.claim_next() == restart
    restart.refresh_from_db()
    assert restart.interrupt("its process is no longer running") is True
    assert not Run.objects.filter(status=RunStatus.QUEUED).exists()


def test_a_window_run_or_an_inline_run_is_not_queued_again_when_interrupted(worker_mode, settings):
    window = start_run("streaming-valid")
    Run.objects.claim_next()
    window.refresh_from_db()
    window.interrupt("gone")
    settings.DC43_RUNNER = "inline"
    inline = Run.objects.create(pipeline=window.pipeline, scenario="orders-landing", mode="until-stopped")
    inline.interrupt("gone")
    assert not Run.objects.filter(status=RunStatus.QUEUED).exists()


@pytest.mark.django_db(transaction=True)
def test_two_claimers_at_once_never_get_the_same_run(demo_contracts, settings):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; on SQLite one worker only (see test_run_worker_command)")
    settings.DC43_RUNNER = "worker"
    first, second = start_run("streaming-dq-rejects"), start_run("streaming-valid")
    holding, release, taken = threading.Event(), threading.Event(), {}

    def slow_claimer():
        # Claims the oldest run and keeps its row locked, as a worker inside its claim would.
        from django.db import connection as own

        try:
            with transaction.atomic():
                taken["slow"] = (
                    Run.objects.select_for_update(skip_locked=True)
                    .filter(status="queued")
                    .order_by("queued_at")
                    .first()
                )
                holding.set()
                release.wait(10)
        finally:
            own.close()

    thread = threading.Thread(target=slow_claimer)
    thread.start()
    try:
        assert holding.wait(10)
        taken["fast"] = Run.objects.claim_next()  # another connection: passes over the locked row, no waiting
    finally:
        release.set()
        thread.join(10)
    assert taken["slow"] == first and taken["fast"] == second
