"""kill -9 in the middle of a publish, after the slices moved in and before their record committed; then the
recovery sweep and a restart on the same checkpoint: no version without its files, no files without a record,
every source row exactly once across the output and the rejects, and the orphans reported."""

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from pipelines.management.commands.feed_landing import order_lines, write_atomically
from pipelines.recovery import reconcile
from registry.models import DatasetVersion, MicroBatch, Run
from tests.processes import database_url_of_tests

pytestmark = [pytest.mark.spark, pytest.mark.process, pytest.mark.django_db(transaction=True)]

FILES, ROWS, BAD, MALFORMED = 3, 6, 1, 1
DATASETS = ("shop.orders", "shop.orders_rejects")
WORKTREE = Path(__file__).resolve().parents[2]

# The child is a pipeline run as the runner drives it: the real read, the real governed write, on a checkpoint
# that outlives it. Its publish hook kills it at the Nth publish, between the renames and the commit.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import django

    django.setup()
    from contracts.checks import OBSERVE, compile_contract
    from contracts.models import ContractVersion
    from pipelines import streaming
    from pipelines.sources import read_source
    from pipelines.spark import get_spark
    from pipelines.transforms import orders
    from registry.models import Run, owner_fields

    kill_at, publishes = int(sys.argv[1]), []

    def hook():
        publishes.append(1)
        if len(publishes) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    streaming.publish_hook = hook
    spark = get_spark()
    run = Run.objects.create(scenario="orders-crash", run_type=OBSERVE, requested_seconds=60, **owner_fields())
    compiled = compile_contract(ContractVersion.objects.resolve("shop.orders_raw").document)
    source = read_source(spark, compiled, format="json", path=sys.argv[2], options={"maxFilesPerTrigger": 1})
    query = streaming.write_stream_with_contract(
        orders(source.df), "shop.orders", run=run, run_type=OBSERVE, rejects="shop.orders_rejects",
        trigger={"availableNow": True}, checkpoint=sys.argv[3], slice_key="orders-crash@20260101T000000Z",
        malformed_column=source.malformed_column,
    )
    while query.query.isActive:
        time.sleep(0.2)
    error = query.exception()
    run.finish(None if error is None else "failed", error or "")
    print(run.status, error or "")
    sys.exit(1 if error else 0)
    """
)


@pytest.fixture
def pipeline(tmp_path, settings, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    landing = tmp_path / "landing"
    landing.mkdir()
    rng = random.Random(11)
    for number in range(FILES):
        write_atomically(landing / f"orders-{number}.json", order_lines(rng, ROWS, BAD, MALFORMED))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return landing, str(tmp_path / "checkpoints" / "orders-crash"), script


def run_child(pipeline, kill_at=0):
    """Run the child to its end (or its kill); returns its exit code."""
    landing, checkpoint, script = pipeline
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dc43site.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url_of_tests(),
        "DC43_DATA_ROOT": settings.DC43_DATA_ROOT,
        "DC43_CHECKPOINT_ROOT": settings.DC43_CHECKPOINT_ROOT,
        "PYTHONPATH": str(WORKTREE),
    }
    child = subprocess.Popen(
        [sys.executable, str(script), str(kill_at), str(landing), checkpoint],
        cwd=WORKTREE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode in (0, -signal.SIGKILL), output[-3000:]
    return child.returncode


def recover():
    """What the next start does: mark the dead run interrupted, then sweep the files."""
    Run.objects.mark_interrupted_orphans()
    return reconcile(DATASETS)


def assert_files_and_registry_agree(spark):
    data = Path(settings.DC43_DATA_ROOT)
    for name in DATASETS:
        records = dict(DatasetVersion.objects.filter(dataset__name=name).values_list("version", "row_count"))
        folders = {p.name for p in (data / name).iterdir() if p.is_dir() and not p.name.startswith("_")}
        assert folders == set(records), name
        for version, rows in records.items():
            assert spark.read.parquet(str(data / name / version)).count() == rows, version
        for leftovers in ("_staging", "_replaced"):
            assert not any((data / name / leftovers).glob("*")), f"{name}/{leftovers}"
    assert not DatasetVersion.objects.filter(files_missing_at__isnull=False).exists()


def assert_every_row_once(spark):
    data = Path(settings.DC43_DATA_ROOT)
    paths = [str(data / name) + "/[!_]*" for name in DATASETS]
    assert spark.read.parquet(*paths).count() == FILES * (ROWS + MALFORMED)
    assert sum(DatasetVersion.objects.values_list("row_count", flat=True)) == FILES * (ROWS + MALFORMED)


def test_a_kill_after_a_first_publish_moved_in_leaves_orphans_the_sweep_reports_and_the_restart_replays(
    spark, pipeline
):
    assert run_child(pipeline, kill_at=2) == -signal.SIGKILL
    assert MicroBatch.objects.count() == 1  # batch 0 recorded; batch 1's slices moved in, never recorded

    report = recover()

    assert report.orphaned and not report.restored
    orphaned = {
        Path(target).relative_to(Path(settings.DC43_DATA_ROOT) / "_orphans").parts[1] for _, target in report.orphaned
    }
    assert orphaned == set(DATASETS)
    assert_files_and_registry_agree(spark)
    assert run_child(pipeline) == 0
    assert_files_and_registry_agree(spark)
    assert_every_row_once(spark)
    assert not recover()


def test_a_kill_in_the_middle_of_a_replay_swap_puts_the_earlier_slice_back(spark, pipeline):
    landing, checkpoint, _ = pipeline
    assert run_child(pipeline) == 0
    before = dict(DatasetVersion.objects.values_list("path", "row_count"))
    for name in ("2", ".2.crc"):  # Spark never committed batch 2: the next run replays it
        (Path(checkpoint) / "commits" / name).unlink()
    assert run_child(pipeline, kill_at=1) == -signal.SIGKILL

    report = recover()

    assert len(report.restored) == 2 and {Path(t).name.endswith(".uncommitted") for _, t in report.orphaned} == {True}
    assert dict(DatasetVersion.objects.values_list("path", "row_count")) == before
    assert_files_and_registry_agree(spark)
    assert run_child(pipeline) == 0
    assert_files_and_registry_agree(spark)
    assert_every_row_once(spark)
    assert MicroBatch.objects.filter(replaced_run__isnull=False).count() == 1
