"""Heartbeats tell the truth: a dedicated thread beats for the whole life of a run, Spark's start-up included, stamped
with the database's clock; a run somebody else marked interrupted stops its query and records nothing more; and the
owner is host + pid + process start time, so a pid reused by another process is not taken for the owner."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

import pipelines.spark
from pipelines.runner import run_pipeline, start_run, wait_for
from registry.models import DatasetVersion, MicroBatch, Run, owner_fields, process_started_at


@pytest.mark.django_db
def test_the_owner_is_this_process_by_pid_and_start_time():
    fields = owner_fields()
    started = fields["owner_started_at"]
    assert fields["owner_pid"] == os.getpid()
    assert timezone.now() - timedelta(days=30) < started <= timezone.now()
    assert process_started_at(os.getpid()) == started


@pytest.mark.django_db
def test_a_run_whose_pid_now_names_a_process_started_later_is_an_orphan():
    run = Run.objects.create(scenario="streaming-valid", requested_seconds=8, **owner_fields())
    assert run.orphan_reason() == ""
    Run.objects.filter(pk=run.pk).update(owner_started_at=run.owner_started_at - timedelta(hours=1))
    run.refresh_from_db()
    assert "the pid now names another process" in run.orphan_reason()
    assert Run.objects.mark_interrupted_orphans() == [run]


@pytest.mark.django_db
def test_a_heartbeat_is_stamped_with_the_database_clock_and_refused_for_a_finished_run():
    run = Run.objects.create(scenario="streaming-valid", requested_seconds=8, **owner_fields())
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run.beat() is True
    beat = Run.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)
    assert abs((beat - timezone.now()).total_seconds()) < 60
    run.finish("ok")
    assert run.beat() is False


@pytest.fixture
def data_root(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")


class Sweeps(threading.Thread):
    """What `sweep_runs` does, every 0.3 s, as another process's sweeper would."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.marked, self.count = [], 0

    def run(self):
        from django.db import connection

        while not self.stopping.wait(0.3):
            self.marked += Run.objects.mark_interrupted_orphans()
            self.count += 1
        connection.close()

    def stop(self):
        self.stopping.set()
        self.join(10)


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_spark_start_up_longer_than_the_timeout_is_not_taken_for_a_dead_run(spark, data_root, settings, monkeypatch):
    settings.DC43_HEARTBEAT_TIMEOUT = 2
    real = pipelines.spark.get_spark

    def slow_start_up():
        time.sleep(5)  # a cold cluster: longer than the heartbeat timeout
        return real()

    monkeypatch.setattr(pipelines.spark, "get_spark", slow_start_up)
    sweeps = Sweeps()
    sweeps.start()
    try:
        run = run_pipeline("streaming-valid", seconds=2)
    finally:
        sweeps.stop()
    assert sweeps.count > 10 and sweeps.marked == []
    assert (run.status, run.reason) == ("ok", "")
    assert run.batches.exists()


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_run_marked_interrupted_by_somebody_else_stops_its_query_and_records_nothing_after_complete(spark, data_root):
    run = start_run("streaming-valid", mode="until-stopped")
    deadline = time.monotonic() + 120
    while not run.batches.filter(row_count__gt=0).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.interrupt("marked by somebody else")
    complete = run.events.get(kind="complete")
    assert wait_for(run, 60)

    assert not [q for q in spark.streams.active if run.id.hex[:8] in (q.name or "")]
    time.sleep(2)  # nothing arrives late either
    run.refresh_from_db()
    assert (run.status, run.reason) == ("interrupted", "marked by somebody else")
    assert run.events.order_by("seq").last() == complete
    assert not MicroBatch.objects.filter(run=run, finished_at__gt=complete.created_at).exists()
    assert not DatasetVersion.objects.filter(run=run, created_at__gt=complete.created_at).exists()
    for version in DatasetVersion.objects.filter(run=run):
        assert spark.read.parquet(version.path).count() == version.row_count
