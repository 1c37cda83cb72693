"""A file the source cannot read ends the run `failed`, naming the file, and the next run fails the same way.

A parquet landing folder holds a good file and, landed after it, a file that is not parquet at all. One file per
micro-batch: the good file's batch is published once, the corrupt file's batch fails, and a second run resumes at
that batch and fails on it again: the file is never skipped silently, and nothing is published twice.
"""

import os
import shutil
from pathlib import Path

import pytest
from slices import not_once, published, versions_in_registry

from pipelines.runner import run_pipeline
from registry.models import DatasetVersion
from registry.pipelines import Pipeline

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

KEY = "orders-parquet"
DATASETS = ("shop.orders", "shop.orders_rejects")
CORRUPT = "orders-0002.parquet"


def write_parquet_file(spark, rows, path, work):
    """One parquet file at `path` holding `rows` (Spark writes a folder of parts: keep its one part)."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

    schema = StructType(
        [
            StructField("order_id", StringType()),
            StructField("amount", DoubleType()),
            StructField("currency", StringType()),
            StructField("status", StringType()),
            StructField("ordered_at", TimestampType()),
        ]
    )
    spark.createDataFrame(rows, schema).coalesce(1).write.mode("overwrite").parquet(str(work))
    (part,) = Path(work).glob("part-*.parquet")
    shutil.move(part, path)


@pytest.fixture
def landing(spark, tmp_path, settings, demo_contracts):
    """A parquet pipeline whose folder holds a good file of 5 orders, then a corrupt one."""
    from datetime import datetime

    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    folder = tmp_path / "landing"
    folder.mkdir()
    when = datetime(2026, 1, 1, 12, 0)
    rows = [(f"pq-{i}", 10.0 + i, "EUR", "paid", when) for i in range(5)]
    write_parquet_file(spark, rows, folder / "orders-0001.parquet", tmp_path / "work")
    (folder / CORRUPT).write_bytes(b"PAR1 this is not a parquet file, whatever its name says PAR1")
    # The stream takes files oldest first: the good one is older.
    os.utime(folder / "orders-0001.parquet", (1_700_000_000, 1_700_000_000))
    os.utime(folder / CORRUPT, (1_700_000_100, 1_700_000_100))
    pipeline = Pipeline(
        key=KEY,
        title="Orders as parquet files",
        source_format="parquet",
        source_path=str(folder),
        source_options={"maxFilesPerTrigger": 1},
        input_contract="shop.orders_raw",
        output_contract="shop.orders",
        rejects_contract="shop.orders_rejects",
        transform="pipelines.transforms.orders",
        trigger={"availableNow": True},
    )
    pipeline.full_clean()
    pipeline.save()
    return folder


def test_a_corrupt_parquet_file_fails_the_run_with_its_name_and_fails_the_next_run_too(spark, landing):
    first = run_pipeline(KEY, mode="available-now", via="python")
    assert first.status == "failed"
    assert CORRUPT in first.reason, first.reason

    second = run_pipeline(KEY, mode="available-now", via="python")
    assert second.status == "failed"
    assert CORRUPT in second.reason, second.reason

    # The good file was published once, by the first run; the corrupt one never turned into rows.
    versions = versions_in_registry(DATASETS)
    found = published(spark, versions)
    assert found.missing == [] and found.miscounted == []
    assert not_once({f"pq-{i}": 1 for i in range(5)}, found.orders) == {}
    assert set(DatasetVersion.objects.values_list("run", flat=True)) == {first.id}
