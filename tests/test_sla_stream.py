"""SLAs measured on a real stream: a parquet folder whose rows carry event times the test chose."""

import contextlib
import time
from datetime import UTC, datetime

import pytest
import yaml

from contracts.models import ContractVersion
from pipelines.streaming import write_stream_with_contract
from registry.alerts import Alert, Condition
from registry.models import MicroBatch, RuleResult, Run

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

SCHEMA = "ts timestamp, value bigint"


def sla_contract(contract_id, slas, custom=None):
    document = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": contract_id,
        "version": "1.0.0",
        "status": "active",
        "schema": [
            {
                "name": "events",
                "properties": [
                    {"name": "ts", "physicalType": "timestamp"},
                    {"name": "value", "physicalType": "bigint", "quality": [{"mustBeGreaterOrEqualTo": 0}]},
                ],
            }
        ],
        "slaProperties": slas,
    }
    if custom:
        document["customProperties"] = custom
    ContractVersion.from_text(yaml.safe_dump(document), status="active").save()
    return contract_id


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")


def ago(seconds):
    return datetime.fromtimestamp(time.time() - seconds, UTC).replace(tzinfo=None)


def write_files(spark, folder, *batches):
    """One parquet file per batch of (seconds ago, value) rows; one file per trigger gives one batch per file."""
    for i, rows in enumerate(batches):
        spark.createDataFrame([(ago(s), v) for s, v in rows], SCHEMA).coalesce(1).write.mode("overwrite").parquet(
            f"{folder}/part{i}"
        )
        # The stream reads the folder: move each file up, named so that the order of batches is the order of files.
        (src,) = [p for p in (folder / f"part{i}").iterdir() if p.suffix == ".parquet"]
        src.rename(folder / f"{i:03d}.parquet")


def run_stream(spark, folder, contract_id, run_type="observe", rejects=None):
    run = Run.objects.create(scenario="sla-test", requested_seconds=60)
    df = spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", 1).parquet(str(folder))
    governed = write_stream_with_contract(
        df, contract_id, run=run, run_type=run_type, rejects=rejects, trigger={"availableNow": True}
    )
    # A batch refused after an enforce block ends the query with an error: `exception()` tells which it was.
    with contextlib.suppress(Exception):
        governed.query.awaitTermination(120)
    assert governed.exception() is None
    return run


def results(run, kind="sla"):
    return list(
        RuleResult.objects.filter(run=run, kind=kind)
        .order_by("batch__batch_id")
        .values_list("batch__batch_id", "measured", "unit", "threshold", "verdict", "skipped_reason")
    )


def test_latency_is_measured_from_the_oldest_event_time_of_each_batch(spark, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    # Batch 0: its oldest row is two hours old; batch 1: ten minutes old. The SLA allows one hour.
    write_files(spark, folder, [(7200, 1), (60, 2)], [(600, 3), (30, 4)])
    contract_id = sla_contract(
        "sla.latency",
        [{"property": "latency", "value": 1, "unit": "h", "element": "events.ts", "driver": "operational"}],
    )
    run = run_stream(spark, folder, contract_id)

    measured = results(run)
    assert [(b, unit, threshold, verdict) for b, _, unit, threshold, verdict, _ in measured] == [
        (0, "h", 1.0, "warn"),
        (1, "h", 1.0, "ok"),
    ]
    # Measured at the verdict, a few seconds after the rows were written: never less than the event age.
    assert 2.0 <= measured[0][1] < 2.0 + 60 / 3600
    assert 600 / 3600 <= measured[1][1] < (600 + 60) / 3600
    # The run page shows the SLA with the other rules, and the pipeline's SLA alert is open.
    rules = MicroBatch.objects.get(run=run, batch_id=0).metrics["rules"]
    assert [r["verdict"] for r in rules if r["kind"] == "sla"] == ["warn"]
    assert Alert.objects.filter(pipeline_key="sla-test", condition=Condition.SLA_BREACH).count() == 1


def test_time_to_detect_reads_the_oldest_failing_row_and_skips_batches_without_one(spark, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    # Batch 0: a failing row (value < 0) 30 minutes old next to a passing row 3 hours old; batch 1: nothing fails.
    write_files(spark, folder, [(1800, -1), (10800, 5)], [(10800, 2)])
    contract_id = sla_contract("sla.ttd", [{"property": "timeToDetect", "value": 20, "unit": "m", "element": "ts"}])
    run = run_stream(spark, folder, contract_id)

    (first, second) = results(run)
    assert first[4] == "warn" and 30.0 <= first[1] < 31.0
    assert second[1] is None and second[4] == "ok" and second[5] == "no failing row with an event time"


def test_frequency_is_the_gap_since_the_previous_batch_with_rows(spark, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    write_files(spark, folder, [(1, 1)], [(1, 2)], [(1, 3)])
    contract_id = sla_contract("sla.frequency", [{"property": "frequency", "value": 1, "unit": "h"}])
    run = run_stream(spark, folder, contract_id)

    (first, *later) = results(run)
    assert first[1] is None and first[5] == "the first batch with rows of the run has no earlier one"
    assert len(later) == 2
    # Batches of one available-now drain follow each other within a minute: well inside the hour.
    assert all(0 < measured < 60 / 3600 and verdict == "ok" for _, measured, _, _, verdict, _ in later)


def test_an_sla_the_contract_calls_an_error_blocks_the_batch_under_enforce(spark, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    write_files(spark, folder, [(120, 1)], [(1, 2)])
    contract_id = sla_contract(
        "sla.enforced",
        [{"property": "latency", "value": 1, "unit": "m", "element": "ts"}],
        custom=[{"property": "dc43.slaSeverity", "value": {"latency": "error"}}],
    )
    run = run_stream(spark, folder, contract_id, run_type="enforce")

    assert results(run)[0][4] == "block"
    assert MicroBatch.objects.get(run=run, batch_id=0).status == "block"
    assert not MicroBatch.objects.filter(run=run, batch_id=1).exists()  # the stream stopped at the block


def test_with_rejects_routed_the_oldest_rows_are_found_on_both_sides_of_the_split(spark, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    # The failing row (to the rejects) is the oldest: latency and timeToDetect both read it.
    write_files(spark, folder, [(5400, -1), (60, 5)])
    contract_id = sla_contract(
        "sla.routed",
        [
            {"property": "latency", "value": 1, "unit": "h", "element": "ts"},
            {"property": "timeToDetect", "value": 1, "unit": "h", "element": "ts"},
        ],
    )
    rejects = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "sla.routed_rejects",
        "version": "1.0.0",
        "status": "active",
        "schema": [
            {
                "name": "rejects",
                "properties": [
                    {"name": "ts", "physicalType": "timestamp"},
                    {"name": "value", "physicalType": "bigint"},
                    {"name": "reject_reasons", "physicalType": "array<string>"},
                    {"name": "run_id", "physicalType": "string"},
                    {"name": "batch_id", "physicalType": "bigint"},
                ],
            }
        ],
    }
    ContractVersion.from_text(yaml.safe_dump(rejects), status="active").save()
    run = run_stream(spark, folder, contract_id, rejects="sla.routed_rejects")

    assert MicroBatch.objects.get(run=run, batch_id=0).rejected_rows == 1
    measured = {
        name: (value, verdict)
        for name, value, verdict in RuleResult.objects.filter(run=run, kind="sla").values_list(
            "name", "measured", "verdict"
        )
    }
    latency, ttd = measured["sla.latency@ts"], measured["sla.timeToDetect@ts"]
    assert 1.5 <= latency[0] < 1.5 + 60 / 3600 and latency[1] == "warn"
    assert 1.5 <= ttd[0] < 1.5 + 60 / 3600 and ttd[1] == "warn"
