"""A rate source read one trigger at a time: rows from the first trigger on, stamped from when the run began reading."""

import threading
import time
from datetime import datetime

import pytest

from contracts import demo
from contracts.checks import compile_contract
from pipelines.sources import paced_rate, read_source, trigger_millis


def test_a_trigger_reads_as_milliseconds():
    assert trigger_millis({"processingTime": "1 second"}) == 1000
    assert trigger_millis({"processingTime": "2 seconds"}) == 2000
    assert trigger_millis({"processingTime": "500 milliseconds"}) == 500
    assert trigger_millis({"processingTime": "1 minute"}) == 60_000


def test_an_available_now_or_missing_trigger_has_no_interval():
    assert trigger_millis({"availableNow": True}) is None
    assert trigger_millis(None) is None
    assert trigger_millis({"processingTime": "soon"}) is None


def test_each_trigger_gets_the_rows_of_its_length_stamped_one_trigger_apart_from_the_start():
    paced = paced_rate({"rowsPerSecond": "6", "numPartitions": "1"}, 2000, 1_700_000_000_123.9)

    assert paced == {
        "rowsPerBatch": "12",
        "startTimestamp": "1700000000123",
        "advanceMillisPerBatch": "2000",
        "numPartitions": "1",
    }


def test_a_ramp_up_or_an_option_it_does_not_know_keeps_sparks_rate_source():
    assert paced_rate({"rowsPerSecond": "6", "rampUpTime": "5s"}, 1000, 0) is None
    assert paced_rate({"rowsPerSecond": "6", "someOption": "x"}, 1000, 0) is None


def test_a_rate_that_does_not_divide_into_whole_rows_per_trigger_keeps_sparks_rate_source():
    assert paced_rate({"rowsPerSecond": "3"}, 500, 0) is None
    assert paced_rate({"rowsPerSecond": "1"}, 200, 0) is None
    assert paced_rate({"rowsPerSecond": "4"}, 500, 0) == {
        "rowsPerBatch": "2",
        "startTimestamp": "0",
        "advanceMillisPerBatch": "500",
    }


@pytest.mark.spark
def test_the_first_micro_batch_already_holds_rows_stamped_from_the_start_and_values_run_on(spark, tmp_path):
    events = next(p.document for p in demo.demo_contracts() if p.contract_id == "demo.streaming.events")

    start_ms = int(time.time() * 1000) - 5000
    source = read_source(
        spark,
        compile_contract(events),
        format="rate",
        options={"rowsPerSecond": 6, "numPartitions": 1},
        paced=(1000, start_ms),
    )
    assert source.gate["verdict"] == "ok"
    batches, done = {}, threading.Event()

    def collect(df, batch_id):
        batches[batch_id] = sorted((r.value, r.timestamp) for r in df.collect())
        if len(batches) >= 2:
            done.set()

    query = (
        source.df.writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(processingTime="200 milliseconds")
        .start()
    )
    try:
        assert done.wait(120)
    finally:
        query.stop()
    first, second = batches[0], batches[1]
    assert [v for v, _ in first] == [0, 1, 2, 3, 4, 5]
    assert [v for v, _ in second] == [6, 7, 8, 9, 10, 11]
    start = datetime.fromtimestamp(start_ms / 1000)  # as PySpark hands a timestamp back: naive, local time
    assert {t for _, t in first} == {start}
    assert {(t - start).total_seconds() for _, t in second} == {1.0}


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_demo_run_has_rows_in_its_first_micro_batch(spark, settings, tmp_path, demo_contracts):
    from pipelines.scenarios import run_streaming_scenario

    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    run = run_streaming_scenario("streaming-valid", seconds=2)

    first = run.batches.order_by("batch_id").first()
    assert (first.batch_id, first.row_count, first.status) == (0, 6, "ok")
    assert run.status == "ok"
