"""Governed runs on a real Spark standalone cluster: a master and a worker started from pip's pyspark jars.

The master and the worker are the Procfile's `spark-master` and `spark-worker` lines, started once for the
module and stopped by their PIDs. Each run's driver lives in a `manage.py` process pointed at the master; the
executors are launched by the worker. The tests prove from the master's JSON status and the executors' own logs
that the tasks ran on the worker's executor, and check the same registry truths as the local runs: every slice
holds the rows its record says, and every landed order sits once in the output or the rejects.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from io import StringIO

import pytest
from django.core.management import call_command
from processes import command_env
from procfile import ROOT, Process, free_port, wait_for_port
from slices import landed, not_once, published, versions_in_registry

from registry.models import Run

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


def run_on(cluster, *args):
    """`manage.py ARGS --json` as a driver on the cluster; its summary, and the application it was on the master."""
    before = set(cluster.apps())
    env = {**command_env(), "DEBUG": "true", "DC43_SPARK_MASTER": cluster.master}
    done = subprocess.run(
        [sys.executable, "manage.py", *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    new = {app_id: app for app_id, app in cluster.apps().items() if app_id not in before}
    assert [app["name"] for app in new.values()] == [APP_NAME], new
    # The run records where it executed: the master, and the application the master knows it by.
    run = Run.objects.get(pk=summary["run"])
    assert (run.spark_master, run.spark_app_id) == (cluster.master, next(iter(new)))
    return summary, run, run.spark_app_id


@pytest.fixture
def shared_data_root(tmp_path, settings):
    # The driver and the executor run on this machine: one local folder is a path both see.
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")


def test_a_healthy_run_on_the_cluster_runs_its_tasks_on_the_workers_executor(
    cluster, shared_data_root, demo_contracts, spark
):
    summary, run, app_id = run_on(cluster, "run_scenario", "streaming-valid", "--seconds", "4")
    assert summary["status"] == run.status == "ok"

    # The master granted the application executors on the worker, and the worker's executor ran its tasks.
    assert cluster.tasks_finished_on_worker(app_id) > 0, "no task finished on the worker's executor"

    # The registry tells the truth about the files the executors wrote.
    versions = list(run.dataset_versions.all())
    assert versions
    assert sum(v.row_count for v in versions) == run.totals()["rows"] > 0
    for version in versions:
        assert spark.read.parquet(version.path).count() == version.row_count, version


def test_the_landing_pipeline_on_the_cluster_lands_every_order_once(cluster, orders_landing, spark):
    out = StringIO()
    call_command("feed_landing", "orders-landing", files=3, rows=20, bad_ratio=0.1, malformed=1, seed=13, stdout=out)
    summary, run, app_id = run_on(cluster, "run_pipeline", "orders-landing", "--available-now")
    assert cluster.tasks_finished_on_worker(app_id) > 0, "no task finished on the worker's executor"

    # Statuses are derived: two orders of each file break the contract, so the run warns, it does not fail.
    assert run.status == summary["status"] == "warn", run.reason
    everything = landed(orders_landing)
    found = published(spark, versions_in_registry(("shop.orders", "shop.orders_rejects"), run=run))
    assert found.missing == [] and found.miscounted == []
    assert not_once(everything.orders, found.orders) == {}
    assert not_once(everything.malformed, found.malformed) == {}
    assert run.totals()["rows"] == everything.lines == 3 * 21
