"""PostgreSQL restarted under a running pipeline: the run retries its record or fails naming the database, and after
the sweep the registry and the files agree.

The test starts a PostgreSQL of its own (the suite's database stays untouched), migrates a site database there,
runs `orders-landing --until-stopped` in a child process against it, and stops the server with a fast shutdown
(every session cut) for a few seconds once batches flow. Then it feeds more files, lets the run go on or end,
stops it like Ctrl-C does, runs `manage.py sweep_runs`, and reads every published slice back with Spark.
"""

import json
import signal
import time
from pathlib import Path

import pytest
import yaml
from faultlib import child_env, wait_until
from slices import Version, published, stray_folders

pytestmark = [pytest.mark.spark, pytest.mark.process]

KEY = "orders-landing"
DATASETS = ("shop.orders", "shop.orders_rejects")
DB = "dc43_fault"
DEMO_SPEC = Path(__file__).resolve().parents[2] / "pipelines" / "demo" / f"{KEY}.yaml"


def recorded_batches(server):
    try:
        return server.query(DB, "SELECT count(*) FROM registry_microbatch WHERE row_count > 0")[0][0]
    except Exception:
        return None  # the server is down or restarting


def registry_versions(server):
    rows = server.query(
        DB,
        "SELECT d.name, v.version, v.path, v.row_count FROM registry_datasetversion v "
        "JOIN registry_dataset d ON d.id = v.dataset_id WHERE d.name = ANY(%s)",
        list(DATASETS),
    )
    return [Version(*row) for row in rows]


@pytest.fixture
def site(own_postgres, tmp_path, children):
    """A migrated site database on the test's own PostgreSQL, orders-landing watching a folder of the test."""
    env = child_env(
        own_postgres.create_database(DB), tmp_path / "data", tmp_path / "checkpoints", DC43_HEARTBEAT_TIMEOUT=60
    )
    assert children("migrate", "--noinput", env=env).wait(180) == 0
    landing = tmp_path / "landing"
    landing.mkdir()
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["source"]["path"] = str(landing)
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    loaded = children("load_pipelines", tmp_path / "pipeline.yaml", env=env)
    assert loaded.wait(60) == 0, loaded.tail()
    return env


def feed(children, env, files, seed):
    fed = children(
        "feed_landing",
        KEY,
        "--files",
        files,
        "--rows",
        25,
        "--bad-ratio",
        0.1,
        "--malformed",
        1,
        "--seed",
        seed,
        env=env,
    )
    assert fed.wait(60) == 0, fed.tail()


def test_a_postgresql_restart_mid_run_is_retried_or_fails_naming_the_database_and_the_sweep_reconciles(
    own_postgres, site, children, tmp_path
):
    env = site
    feed(children, env, files=6, seed=7)
    run = children("run_pipeline", KEY, "--until-stopped", "--json", env=env)
    before = wait_until(lambda: recorded_batches(own_postgres) or not run.alive(), 120, 0.1, "the first batch")
    assert run.alive(), run.tail()

    own_postgres.stop()  # fast shutdown: the run's connection is cut mid-stream
    time.sleep(4)
    own_postgres.start()
    feed(children, env, files=4, seed=8)

    # The run goes on (its records retried) or ends by itself; give it the time of a few batches to show which.
    went_on = wait_until(
        lambda: not run.alive() or (recorded_batches(own_postgres) or 0) >= before + 3 or None,
        120,
        0.2,
        "the run to record batches again or to end",
    )
    assert went_on
    if run.alive():
        run.signal(signal.SIGINT)  # Ctrl-C asks for a clean stop
    try:
        run.wait(120)
    except Exception:
        pytest.fail(f"the run did not end after its stop was asked:\n{run.tail()}")

    sweep = children("sweep_runs", env=env)
    assert sweep.wait(120) == 0, sweep.tail()

    ((status, reason),) = own_postgres.query(DB, "SELECT status, reason FROM registry_run WHERE scenario = %s", KEY)
    assert status in ("ok", "warn") or (status == "failed" and "database" in reason.lower()), (status, reason)
    if status in ("ok", "warn"):
        assert json.loads(run.output().strip().splitlines()[-1])["status"] == status

    from pipelines.spark import get_spark  # only now: the child's JVM had the cores to itself

    versions = registry_versions(own_postgres)
    found = published(get_spark(), versions)
    assert found.missing == [], "dataset versions without files"
    assert found.miscounted == []
    assert [order for order, times in found.orders.items() if times > 1] == []
    assert stray_folders(tmp_path / "data", DATASETS, versions) == [], "files without a record"
