"""A pipeline's checkpoint outlives its runs: a batch replayed by a later run rewrites the same slice and
moves its records there, and a trigger that arrives after the stop is replayed, never lost."""

import random
import time

import pytest

from contracts.checks import OBSERVE, compile_contract
from contracts.models import ContractVersion
from pipelines.management.commands.feed_landing import order_lines, write_atomically
from pipelines.sources import read_source
from pipelines.streaming import write_stream_with_contract
from registry.models import DatasetVersion, MicroBatch, Run, RunFinished, owner_fields

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

SLICE_KEY = "orders-test@20260101T000000Z"
ROWS_PER_FILE = 7


@pytest.fixture(autouse=True)
def roots(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return tmp_path


def feed(folder, files, rows=ROWS_PER_FILE, seed=1):
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for number in range(files):
        write_atomically(folder / f"orders-{seed}-{number:04d}.json", order_lines(rng, rows, 0, 0))
    return files * rows


def new_run():
    return Run.objects.create(scenario="orders-test", run_type=OBSERVE, requested_seconds=60, **owner_fields())


def start(spark, landing, checkpoint, run, trigger):
    compiled = compile_contract(ContractVersion.objects.resolve("shop.orders_raw").document)
    source = read_source(spark, compiled, format="json", path=str(landing), options={"maxFilesPerTrigger": 1})
    return write_stream_with_contract(
        source.df.drop(source.malformed_column),
        "shop.orders",
        run=run,
        run_type=OBSERVE,
        trigger=trigger,
        checkpoint=checkpoint,
        slice_key=SLICE_KEY,
    )


def drain(spark, landing, checkpoint, run):
    """One available-now run on the checkpoint: every waiting file, then the run ends with its data's verdict."""
    query = start(spark, landing, checkpoint, run, {"availableNow": True})
    wait_until_ended(query)
    assert query.exception() is None
    run.finish()
    return query


def wait_until_ended(query, timeout=120):
    deadline = time.monotonic() + timeout
    while query.query.isActive and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not query.query.isActive


def assert_files_hold_row_counts(spark):
    for version in DatasetVersion.objects.all():
        assert spark.read.parquet(version.path).count() == version.row_count, version


def test_a_batch_recorded_but_not_committed_is_replayed_by_the_next_run_into_the_same_slice(spark, roots):
    landing, checkpoint = roots / "landing", str(roots / "checkpoints" / "orders-test")
    fed = feed(landing, files=3)
    first = new_run()
    drain(spark, landing, checkpoint, first)
    assert sorted(first.batches.values_list("batch_id", flat=True)) == [0, 1, 2]
    replayed = MicroBatch.objects.get(slice_key=SLICE_KEY, batch_id=2)
    path = replayed.dataset_versions.get().path
    # What a kill between the registry's commit and Spark's leaves: batch 2 recorded, not committed.
    commits = roots / "checkpoints" / "orders-test" / "commits"
    for name in ("2", ".2.crc"):
        (commits / name).unlink()

    second = new_run()
    drain(spark, landing, checkpoint, second)

    replayed.refresh_from_db()
    assert (replayed.run_id, replayed.replaced_run_id) == (second.id, first.id)
    version = replayed.dataset_versions.get()
    assert (version.run_id, version.path) == (second.id, path)
    assert sorted(first.batches.values_list("batch_id", flat=True)) == [0, 1]
    assert list(second.batches.values_list("batch_id", flat=True)) == [2]
    assert first.totals()["rows"] + second.totals()["rows"] == fed
    assert DatasetVersion.objects.count() == 3
    assert_files_hold_row_counts(spark)
    assert second.events.filter(kind="batch", payload__replayed=True).count() == 1
    assert not (roots / "data" / "shop.orders" / "_replaced").exists() or not any(
        (roots / "data" / "shop.orders" / "_replaced").iterdir()
    )


def test_a_trigger_after_the_stop_is_not_committed_and_the_next_run_replays_it(spark, roots):
    landing, checkpoint = roots / "landing", str(roots / "checkpoints" / "orders-test")
    fed = feed(landing, files=3)
    first = new_run()
    query = start(spark, landing, checkpoint, first, {"processingTime": "1 second"})
    assert query.wait_for_first_batch(120)
    query.writer.stop_accepting()
    wait_until_ended(query)
    refused = query.writer.refused
    assert refused is not None and refused not in first.batches.values_list("batch_id", flat=True)
    assert query.exception() is None  # a refused trigger is a clean end
    query.query.stop()
    first.finish()

    second = new_run()
    drain(spark, landing, checkpoint, second)

    assert refused in second.batches.values_list("batch_id", flat=True)
    assert first.totals()["rows"] + second.totals()["rows"] == fed
    assert_files_hold_row_counts(spark)


def test_a_finished_run_records_no_more_batches(roots):
    run = new_run()
    run.finish()
    with pytest.raises(RunFinished):
        run.record_batch(
            {"batch_id": 0, "status": "empty", "started_at": run.started_at, "finished_at": run.started_at}
        )
    assert not MicroBatch.objects.exists()
