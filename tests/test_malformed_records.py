"""Lines of a landing folder that do not parse: quarantined with their raw text, or failures of the
malformed_record rule; never a row of nulls in the output."""

import random
import time
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from contracts.checks import ENFORCE, OBSERVE, compile_contract
from contracts.models import ContractVersion
from pipelines.management.commands.feed_landing import order_lines, write_atomically
from pipelines.sources import read_source
from pipelines.streaming import write_stream_with_contract
from pipelines.transforms import orders
from registry.models import DatasetVersion, Run, owner_fields

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

FILES, ROWS, BAD, MALFORMED = 2, 8, 2, 3


@pytest.fixture(autouse=True)
def roots(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return tmp_path


@pytest.fixture
def landing(roots):
    """Two files of orders, each with two that break the output contract and three lines that are not JSON."""
    folder = roots / "landing"
    folder.mkdir()
    rng = random.Random(7)
    for number in range(FILES):
        write_atomically(folder / f"orders-{number}.json", order_lines(rng, ROWS, BAD, MALFORMED))
    return folder


def run_landing(spark, landing, run_type, rejects=None):
    run = Run.objects.create(scenario="orders-test", run_type=run_type, requested_seconds=60, **owner_fields())
    compiled = compile_contract(ContractVersion.objects.resolve("shop.orders_raw").document)
    source = read_source(spark, compiled, format="json", path=str(landing))
    query = write_stream_with_contract(
        orders(source.df),
        "shop.orders",
        run=run,
        run_type=run_type,
        rejects=rejects,
        trigger={"availableNow": True},
        malformed_column=source.malformed_column,
    )
    deadline = time.monotonic() + 120
    while query.query.isActive and time.monotonic() < deadline and not query.blocked:
        time.sleep(0.2)
    query.stop()
    assert query.exception() is None
    run.finish()
    return run


def rows_of(spark, dataset):
    paths = list(DatasetVersion.objects.filter(dataset__name=dataset).values_list("path", flat=True))
    return spark.read.parquet(*paths) if paths else None


def test_with_rejects_malformed_lines_are_quarantined_with_their_raw_text(spark, landing):
    run = run_landing(spark, landing, OBSERVE, rejects="shop.orders_rejects")

    output, rejects = rows_of(spark, "shop.orders"), rows_of(spark, "shop.orders_rejects")
    assert output.count() + rejects.count() == FILES * (ROWS + MALFORMED)
    assert "_raw_record" not in output.columns and "raw_record" not in output.columns
    assert output.where(F.col("order_id").isNull()).count() == 0
    malformed = rejects.where(F.array_contains("reject_reasons", "malformed_record")).collect()
    assert len(malformed) == FILES * MALFORMED
    assert all(r.raw_record and r.raw_record.startswith('{"ord') for r in malformed)
    assert all(r.reject_reasons == ["malformed_record"] for r in malformed)
    assert rejects.where(F.col("raw_record").isNull()).count() == FILES * BAD
    assert run.totals()["rejected"] == FILES * (BAD + MALFORMED)
    for version in DatasetVersion.objects.all():
        assert spark.read.parquet(version.path).count() == version.row_count


def test_without_rejects_malformed_lines_fail_the_rule_and_never_reach_the_output(spark, landing):
    run = run_landing(spark, landing, OBSERVE)

    output = rows_of(spark, "shop.orders")
    assert output.count() == FILES * ROWS
    assert output.where(F.col("order_id").isNull()).count() == 0
    failed = [
        rule["failed"] for b in run.batches.all() for rule in b.metrics["rules"] if rule["rule"] == "malformed_record"
    ]
    assert sum(failed) == FILES * MALFORMED
    assert run.status == "warn"


def test_under_enforce_malformed_lines_block_the_batch(spark, landing):
    run = run_landing(spark, landing, ENFORCE)

    assert run.status == "blocked"
    blocked = run.batches.get(status="block")
    assert any(r["rule"] == "malformed_record" and r["verdict"] == "block" for r in blocked.metrics["rules"])
    assert not DatasetVersion.objects.filter(dataset__name="shop.orders").exists()


def test_an_unreadable_file_fails_the_batch_naming_the_file_and_the_next_run_does_not_skip_it(spark, roots):
    landing = roots / "parquet-landing"
    good = [("o-1", 10.0, "EUR", "paid", datetime(2026, 1, 1))]
    spark.createDataFrame(
        good, "order_id string, amount double, currency string, status string, ordered_at timestamp"
    ).write.parquet(str(landing))
    (landing / "broken.parquet").write_bytes(b"PAR1 this is not a parquet file at all PAR1")
    checkpoint = str(roots / "checkpoints" / "parquet-test")

    reasons = [run_parquet(spark, landing, checkpoint) for _ in range(2)]

    assert reasons[0] == reasons[1]
    assert reasons[0].endswith("broken.parquet") and "cannot read the file" in reasons[0], reasons[0]
    assert not DatasetVersion.objects.exists()


def run_parquet(spark, landing, checkpoint):
    run = Run.objects.create(scenario="orders-test", run_type=OBSERVE, requested_seconds=60, **owner_fields())
    compiled = compile_contract(ContractVersion.objects.resolve("shop.orders_raw").document)
    source = read_source(spark, compiled, format="parquet", path=str(landing))
    query = write_stream_with_contract(
        source.df, "shop.orders", run=run, run_type=OBSERVE, trigger={"availableNow": True}, checkpoint=checkpoint
    )
    deadline = time.monotonic() + 120
    while query.query.isActive and time.monotonic() < deadline:
        time.sleep(0.2)
    return query.exception()
