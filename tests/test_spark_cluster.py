"""A governed run on a real Spark standalone cluster: a master and a worker started from pip's pyspark jars.

The run's driver lives in a `manage.py run_scenario` process pointed at the master; the executors are
launched by the worker. The test proves from the worker's own logs and the master's JSON status that
the tasks ran on the worker's executor, and checks the same registry truths as the local runs.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from processes import database_url_of_tests

from registry.models import Run

pytestmark = [pytest.mark.cluster, pytest.mark.process, pytest.mark.spark, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "local-cluster.sh"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def master_status(ui_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return json.load(response)


@pytest.fixture
def cluster(tmp_path):
    """A master and one worker on loopback ports of their own; stopped by their PIDs afterwards."""
    ports = {
        "DC43_CLUSTER_PORT": free_port(),
        "DC43_CLUSTER_UI_PORT": free_port(),
        "DC43_CLUSTER_WORKER_UI_PORT": free_port(),
    }
    folder = tmp_path / "cluster"
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        DC43_CLUSTER_DIR=str(folder),
        DC43_CLUSTER_MEMORY="1g",
        **{k: str(v) for k, v in ports.items()},
    )
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    pids = [int(p.read_text()) for p in folder.glob("*.pid")]
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        deadline = time.monotonic() + 60
        while master_status(ports["DC43_CLUSTER_UI_PORT"]).get("aliveworkers", 0) < 1:
            assert time.monotonic() < deadline, "the worker never registered with the master"
            time.sleep(0.5)
        yield {
            "master": f"spark://127.0.0.1:{ports['DC43_CLUSTER_PORT']}",
            "ui_port": ports["DC43_CLUSTER_UI_PORT"],
            "folder": folder,
        }
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for pid in pids:
            for _ in range(40):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.25)
            else:
                os.kill(pid, signal.SIGKILL)


def test_a_healthy_run_on_the_cluster_runs_its_tasks_on_the_workers_executor(cluster, tmp_path, demo_contracts, spark):
    env = dict(
        os.environ,
        DC43_WARM_SPARK="0",
        PYTHONUNBUFFERED="1",
        DEBUG="true",
        DATABASE_URL=database_url_of_tests(),
        DC43_SPARK_MASTER=cluster["master"],
        # The driver and the executor are on this machine: one local folder is a path both see.
        DC43_DATA_ROOT=str(tmp_path / "data"),
        DC43_CHECKPOINT_ROOT=str(tmp_path / "checkpoints"),
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "run_scenario", "streaming-valid", "--seconds", "4", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "ok"

    # The master granted the application executors on the worker, and the worker's executor ran its tasks.
    apps = master_status(cluster["ui_port"])["completedapps"] + master_status(cluster["ui_port"])["activeapps"]
    assert [app["name"] for app in apps] == ["dc43-site"]
    executor_logs = list((cluster["folder"] / "work" / apps[0]["id"]).glob("*/stderr"))
    assert executor_logs, "the worker launched no executor for the run"
    finished = sum(log.read_text(errors="replace").count("Finished task") for log in executor_logs)
    assert finished > 0, "no task finished on the worker's executor"

    # The registry tells the truth about the files the executors wrote.
    run = Run.objects.get(pk=summary["run"])
    versions = list(run.dataset_versions.all())
    assert run.status == "ok" and versions
    assert sum(v.row_count for v in versions) == run.totals()["rows"] > 0
    for version in versions:
        assert spark.read.parquet(version.path).count() == version.row_count, version
