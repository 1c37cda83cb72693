"""The three scenarios on real Spark, and a registry that tells the truth about the files it points at."""

import threading

import pytest
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

from pipelines import transforms
from pipelines.runner import start_run, wait_for
from pipelines.scenarios import run_streaming_scenario
from registry.models import BatchStatus, DatasetVersion, MicroBatch, Run, RunEvent

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

OUTPUT = "demo.streaming.events_processed"
REJECTS = "demo.streaming.events_rejects"


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return tmp_path


class QueryStarts(StreamingQueryListener):
    def __init__(self):
        self.names = []

    def onQueryStarted(self, event):
        self.names.append(event.name)

    def onQueryProgress(self, event):
        pass

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        pass


@pytest.fixture
def started_queries(spark):
    listener = QueryStarts()
    spark.streams.addListener(listener)
    yield listener
    spark.streams.removeListener(listener)


def assert_registry_tells_the_truth(spark, run):
    """Every DatasetVersion's slice holds exactly row_count rows; versions exist only for non-empty batches."""
    for version in run.dataset_versions.select_related("dataset", "micro_batch"):
        assert spark.read.parquet(version.path).count() == version.row_count, version
        assert version.micro_batch.run_id == run.id
    for batch in run.batches.all():
        if batch.status == BatchStatus.EMPTY:
            assert batch.row_count == 0 and not batch.dataset_versions.exists()
    events = list(run.events.order_by("seq").values_list("seq", "kind"))
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1] == "complete" and [k for _, k in events].count("complete") == 1
    batch_events = sorted(e.payload["batch_id"] for e in run.events.filter(kind="batch"))
    assert batch_events == sorted(run.batches.values_list("batch_id", flat=True))


def test_streaming_valid_publishes_every_non_empty_batch_and_ends_ok(spark):
    run = run_streaming_scenario("streaming-valid", seconds=3)

    assert (run.status, run.reason, run.run_type, run.started_via) == ("ok", "", "observe", "python")
    batches = list(run.batches.order_by("batch_id"))
    assert batches and sum(b.row_count for b in batches) > 0
    assert {b.status for b in batches} <= {"ok", "empty"}
    non_empty = [b for b in batches if b.row_count]
    versions = DatasetVersion.objects.filter(run=run)
    assert versions.count() == len(non_empty)
    assert {v.dataset.name for v in versions} == {OUTPUT}
    assert {v.status for v in versions} == {"ok"}
    assert all(v.contract_version.version == "0.1.0" for v in versions)
    assert_registry_tells_the_truth(spark, run)
    flags = spark.read.parquet(*[v.path for v in versions]).select("quality_flag").distinct().collect()
    assert [r.quality_flag for r in flags] == ["valid"]
    assert run.finished_at and run.contract_version.contract.contract_id == OUTPUT


def test_streaming_dq_rejects_quarantines_the_bad_rows_and_keeps_going(spark):
    run = run_streaming_scenario("streaming-dq-rejects", seconds=3)

    assert run.status == "warn"
    batches = list(run.batches.all())
    failing = [b for b in batches if b.violations]
    assert failing, "every fourth row is negative: some batch must have failed rows"
    assert all(b.status == "warn" and b.rejected_rows == b.violations for b in failing)
    assert_registry_tells_the_truth(spark, run)

    out = DatasetVersion.objects.filter(run=run, dataset__name=OUTPUT)
    rej = DatasetVersion.objects.filter(run=run, dataset__name=REJECTS)
    out_df = spark.read.parquet(*[v.path for v in out])
    rej_df = spark.read.parquet(*[v.path for v in rej])
    total = sum(b.row_count for b in batches)
    assert out_df.count() + rej_df.count() == total
    assert out_df.where(F.col("value") < 0).count() == 0
    assert rej_df.where(F.col("value") >= 0).count() == 0
    assert rej_df.where(F.size("reject_reasons") == 0).count() == 0
    assert {r.reject_reasons[0] for r in rej_df.select("reject_reasons").collect()} == {"value.mustBeGreaterOrEqualTo"}
    assert {r.run_id for r in rej_df.select("run_id").distinct().collect()} == {str(run.id)}
    for version in rej:
        ids = {r.batch_id for r in spark.read.parquet(version.path).select("batch_id").distinct().collect()}
        assert ids == {version.micro_batch.batch_id}
    first = run.events.get(kind="milestone", payload__milestone="first_quarantine")
    assert first.payload["text"] == f"the reject sink activated at batch {min(b.batch_id for b in failing)}"
    sample = next(b.metrics["reject_sample"] for b in batches if b.metrics.get("reject_sample"))
    assert sample[0]["value"] < 0 and sample[0]["reject_reasons"] == ["value.mustBeGreaterOrEqualTo"]


def test_schema_break_under_enforce_blocks_before_any_query_starts(spark, started_queries):
    run = run_streaming_scenario("streaming-schema-break")

    assert run.status == "blocked"
    assert "value" in run.reason and "required column is missing" in run.reason
    assert run.schema_gate["verdict"] == "block"
    assert {(d["column"], d["verdict"]) for d in run.schema_gate["differences"]} == {("value", "block")}
    assert not run.batches.exists() and not run.dataset_versions.exists()
    assert not [name for name in started_queries.names if run.id.hex[:8] in (name or "")]
    assert run.events.order_by("seq").last().kind == "complete"


def test_schema_break_under_observe_streams_and_every_row_fails_not_null(spark):
    run = run_streaming_scenario("streaming-schema-break", seconds=2, run_type="observe")

    assert run.status == "warn"
    non_empty = [b for b in run.batches.all() if b.row_count]
    assert non_empty
    for batch in non_empty:
        assert batch.violations == batch.row_count
        failed = {r["rule"]: r["failed"] for r in batch.metrics["rules"]}
        assert failed["value.required"] == batch.row_count
    assert_registry_tells_the_truth(spark, run)


def test_rules_failing_under_enforce_stop_the_stream_before_the_rows_reach_the_output(spark):
    run = run_streaming_scenario("streaming-dq-rejects", seconds=6, run_type="enforce")

    assert run.status == "blocked"
    assert "value.mustBeGreaterOrEqualTo" in run.reason
    blocked = run.batches.get(status="block")
    assert not blocked.dataset_versions.filter(dataset__name=OUTPUT).exists()
    assert blocked.dataset_versions.filter(dataset__name=REJECTS).count() == 1  # the evidence is kept
    assert not run.batches.filter(batch_id__gt=blocked.batch_id).exists()
    assert_registry_tells_the_truth(spark, run)


def test_a_replayed_micro_batch_rewrites_the_same_slice_and_counts_once(spark):
    from pipelines.checks import BatchChecks
    from pipelines.streaming import BatchWriter, Target, resolve_contract

    run = Run.objects.create(scenario="streaming-dq-rejects", requested_seconds=1)
    _, compiled = resolve_contract(OUTPUT)
    batch = spark.createDataFrame(
        [(1, "valid"), (-3, "warning"), (5, "valid"), (-7, "warning")], "value bigint, quality_flag string"
    ).select(F.current_timestamp().alias("timestamp"), "value", "quality_flag")
    writer = BatchWriter(
        run, BatchChecks(compiled, batch.schema, "observe"), Target.for_contract(OUTPUT), Target.for_contract(REJECTS)
    )

    writer(batch, 7)
    first = {v.dataset.name: (v.pk, v.path, v.row_count) for v in run.dataset_versions.all()}
    writer(batch, 7)

    assert MicroBatch.objects.filter(run=run).count() == 1
    micro_batch = MicroBatch.objects.get(run=run)
    assert (micro_batch.row_count, micro_batch.violations, micro_batch.rejected_rows) == (4, 2, 2)
    assert {v.dataset.name: (v.pk, v.path, v.row_count) for v in run.dataset_versions.all()} == first
    assert first[OUTPUT][2] == 2 and first[REJECTS][2] == 2
    assert RunEvent.objects.filter(run=run, kind="batch").count() == 1
    for _, path, rows in first.values():
        assert spark.read.parquet(path).count() == rows


def test_a_crash_inside_a_batch_fails_the_run_with_its_reason_and_stops_the_query(spark, monkeypatch):
    healthy = transforms.healthy

    def explosive(events):
        # ANSI arithmetic: the first row with data divides by zero inside the write.
        return healthy(events).withColumn("boom", F.expr("value div (value - value)"))

    monkeypatch.setattr(transforms, "healthy", explosive)
    run = run_streaming_scenario("streaming-valid", seconds=5)

    assert run.status == "failed"
    assert "DIVIDE_BY_ZERO" in run.reason or "zero" in run.reason.lower()
    assert not [q for q in spark.streams.active if run.id.hex[:8] in (q.name or "")]
    assert not run.dataset_versions.exists()
    assert run.events.order_by("seq").last().kind == "complete"


def test_two_runs_at_once_both_complete_correctly(spark):
    valid = start_run("streaming-valid", seconds=3, via="python")
    rejects = start_run("streaming-dq-rejects", seconds=3, via="python")
    assert wait_for(valid, 120) and wait_for(rejects, 120)
    valid.refresh_from_db()
    rejects.refresh_from_db()

    assert (valid.status, rejects.status) == ("ok", "warn")
    assert_registry_tells_the_truth(spark, valid)
    assert_registry_tells_the_truth(spark, rejects)
    assert not DatasetVersion.objects.filter(run=valid, dataset__name=REJECTS).exists()
    paths = list(DatasetVersion.objects.values_list("path", flat=True))
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"key": "streaming-nope"},
            "unknown pipeline .streaming-nope.; choose one of: orders-landing, streaming-dq-rejects",
        ),
        ({"key": "streaming-valid", "seconds": 0}, "from 1 to 3600"),
        ({"key": "streaming-valid", "seconds": 3601}, "from 1 to 3600"),
        ({"key": "streaming-valid", "run_type": "audit"}, "choose one of: observe, enforce"),
    ],
)
def test_bad_requests_raise_value_error_and_record_nothing(kwargs, message):
    key = kwargs.pop("key")
    with pytest.raises(ValueError, match=message):
        start_run(key, **kwargs)
    with pytest.raises(ValueError, match=message):
        run_streaming_scenario(key, **kwargs)
    assert not Run.objects.exists() and not RunEvent.objects.exists()


def test_a_run_keeps_its_heartbeat_and_owner_while_running(spark):
    run = start_run("streaming-valid", seconds=2, via="python")
    seen = {}

    def look():
        row = Run.objects.get(pk=run.pk)
        seen.update(host=row.owner_host, pid=row.owner_pid, beat=row.heartbeat_at, status=row.status)

    look()
    assert wait_for(run, 120)
    import os

    assert seen["pid"] == os.getpid() and seen["beat"] is not None and seen["status"] == "running"
    assert not Run.objects.orphaned().exists()
    assert threading.active_count() >= 1


def test_a_reject_run_in_which_nothing_failed_is_ok(spark, monkeypatch):
    # The scenario still routes its rejects, to the rejects contract; only no row is bad any more.
    monkeypatch.setattr(transforms, "with_bad_rows", transforms.healthy)
    run = run_streaming_scenario("streaming-dq-rejects", seconds=2)

    assert run.status == "ok"
    assert run.totals()["rejected"] == 0 and run.totals()["rows"] > 0
    assert not run.dataset_versions.filter(dataset__name=REJECTS).exists()
    assert not run.events.filter(kind="milestone", payload__milestone="first_quarantine").exists()
    assert_registry_tells_the_truth(spark, run)
