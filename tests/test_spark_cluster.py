"""Governed runs on a real Spark standalone cluster: a master and a worker started from pip's pyspark jars.

The master, the Spark worker and a runner worker are the Procfile's `spark-master`, `spark-worker` and `worker`
lines, started once for the module and stopped by their PIDs. The tests queue runs (DC43_RUNNER=worker); the runner
worker claims them and hosts their Spark driver in client mode, one Spark application for all of its runs, and the
Spark worker launches the executors. The tests prove from the master's JSON status and the executors' own logs that
the tasks ran on the worker's executor, and check the same registry truths as the local runs: every slice holds the
rows its record says, and every landed order sits once in the output or the rejects.
"""

import json
import os
import sys
import time
import urllib.request
from io import StringIO

import pytest
from django.core.management import call_command
from processes import command_env
from procfile import Process, free_port, wait_for_port
from slices import landed, not_once, published, versions_in_registry

from pipelines.runner import start_run, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.process, pytest.mark.spark, pytest.mark.django_db(transaction=True)]
APP_NAME = "dc43-site"


def master_status(ui_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return json.load(response)


class Cluster:
    def __init__(self, port, ui_port, folder):
        self.master = f"spark://127.0.0.1:{port}"
        self.ui_port = ui_port
        self.folder = folder

    def apps(self):
        status = master_status(self.ui_port)
        return {app["id"]: app for app in status["completedapps"] + status["activeapps"]}

    def tasks_finished_on_worker(self, app_id):
        """Tasks the worker's executors of application `app_id` report finished, read from their own logs."""
        logs = list((self.folder / "work" / app_id).glob("*/stderr"))
        return sum(log.read_text(errors="replace").count("Finished task") for log in logs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One master and one worker for the module, on loopback ports of their own; stopped by their PIDs."""
    folder = tmp_path_factory.mktemp("cluster")
    ports = {name: free_port() for name in ("PORT", "UI_PORT", "WORKER_UI_PORT")}
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "DC43_CLUSTER_DIR": str(folder),
        "DC43_CLUSTER_MEMORY": "1g",
        **{f"DC43_CLUSTER_{name}": str(port) for name, port in ports.items()},
    }
    daemons = []
    try:
        daemons.append(Process("spark-master", env, folder))
        wait_for_port(ports["PORT"], daemons[-1])
        daemons.append(Process("spark-worker", env, folder))
        wait_for_port(ports["WORKER_UI_PORT"], daemons[-1])
        deadline = time.monotonic() + 60
        while master_status(ports["UI_PORT"]).get("aliveworkers", 0) < 1:
            assert time.monotonic() < deadline, "the worker never registered with the master"
            time.sleep(0.5)
        yield Cluster(ports["PORT"], ports["UI_PORT"], folder)
    finally:
        for daemon in reversed(daemons):
            daemon.stop()


@pytest.fixture(scope="module")
def shared_roots(tmp_path_factory):
    # The driver and the executor run on this machine: one local folder is a path both see.
    root = tmp_path_factory.mktemp("shared")
    return {"DC43_DATA_ROOT": str(root / "data"), "DC43_CHECKPOINT_ROOT": str(root / "checkpoints")}


@pytest.fixture(scope="module")
def runner_worker(cluster, shared_roots, django_db_setup, django_db_blocker):
    """The Procfile's runner worker, on the test database, with the cluster as its Spark master."""
    with django_db_blocker.unblock():
        env = {**command_env(), **shared_roots, "DEBUG": "true", "DC43_SPARK_MASTER": cluster.master}
    worker = Process("worker", env, cluster.folder)
    try:
        yield worker
    finally:
        worker.stop(grace=60)  # it stops its Spark application cleanly: the master then lists it completed


@pytest.fixture
def queued_to(runner_worker, shared_roots, settings):
    """Runs started here are queued for the runner worker, which writes under the module's shared roots."""
    settings.DC43_RUNNER = "worker"
    for name, value in shared_roots.items():
        setattr(settings, name, value)
    return runner_worker


def run_on(cluster, worker, key, **options):
    """Queue a run of `key`, wait for the runner worker to run it on the cluster; the Run, as it ended."""
    run = start_run(key, via="python", **options)
    assert wait_for(run, 300), worker.tail()
    run.refresh_from_db()
    # The run records where it executed: the master, and the application the master knows it by.
    assert run.spark_master == cluster.master
    assert cluster.apps()[run.spark_app_id]["name"] == APP_NAME
    assert run.owner_pid == worker.pid
    return run


def test_a_healthy_run_on_the_cluster_runs_its_tasks_on_the_workers_executor(cluster, demo_contracts, queued_to, spark):
    run = run_on(cluster, queued_to, "streaming-valid", seconds=4)
    assert run.status == "ok", run.reason

    # The master granted the application executors on the worker, and the worker's executor ran its tasks.
    assert cluster.tasks_finished_on_worker(run.spark_app_id) > 0, "no task finished on the worker's executor"

    # The registry tells the truth about the files the executors wrote.
    versions = list(run.dataset_versions.all())
    assert versions
    assert sum(v.row_count for v in versions) == run.totals()["rows"] > 0
    for version in versions:
        assert spark.read.parquet(version.path).count() == version.row_count, version


def test_the_landing_pipeline_on_the_cluster_lands_every_order_once(cluster, orders_landing, queued_to, spark):
    call_command(
        "feed_landing", "orders-landing", files=3, rows=20, bad_ratio=0.1, malformed=1, seed=13, stdout=StringIO()
    )
    run = run_on(cluster, queued_to, "orders-landing", mode="available-now")
    assert cluster.tasks_finished_on_worker(run.spark_app_id) > 0, "no task finished on the worker's executor"

    # Statuses are derived: two orders of each file break the contract, so the run warns, it does not fail.
    assert run.status == "warn", run.reason
    everything = landed(orders_landing)
    found = published(spark, versions_in_registry(("shop.orders", "shop.orders_rejects"), run=run))
    assert found.missing == [] and found.miscounted == []
    assert not_once(everything.orders, found.orders) == {}
    assert not_once(everything.malformed, found.malformed) == {}
    assert run.totals()["rows"] == everything.lines == 3 * 21
