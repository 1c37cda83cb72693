"""The pipeline page reads a checkpoint folder as Spark writes it: files done, the batch in flight, files waiting."""

import json
import os

import pytest

from pipelines.checkpoints import read_progress, waiting_files

METADATA = '{"batchWatermarkMs":0,"batchTimestampMs":1700000000000,"conf":{}}'


def write(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def entry(landing, name, batch_id):
    return json.dumps({"path": f"file://{landing / name}", "timestamp": 1700000000000 + batch_id, "batchId": batch_id})


def batch(checkpoint, landing, batch_id, names, *, committed=True, compact=False, log=None):
    """One batch as Spark leaves it: the log's entries, the planned offset and (once done) the commit."""
    suffix = ".compact" if compact else ""
    lines = log if log is not None else [entry(landing, name, batch_id) for name in names]
    write(checkpoint / "sources" / "0" / f"{batch_id}{suffix}", "v1", *lines)
    write(checkpoint / "offsets" / str(batch_id), "v1", METADATA, json.dumps({"logOffset": batch_id}))
    write(checkpoint / "offsets" / f".{batch_id}.crc", "binary checksum")
    if committed:
        write(checkpoint / "commits" / str(batch_id), "v1", '{"nextBatchWatermarkMs":0}')


@pytest.fixture
def landing(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def test_the_files_of_committed_batches_are_done_and_the_planned_batch_is_in_flight(tmp_path, landing):
    checkpoint = tmp_path / "checkpoint"
    batch(checkpoint, landing, 0, ["a.json", "b.json"])
    batch(checkpoint, landing, 1, ["c.json"])
    batch(checkpoint, landing, 2, ["d.json"], committed=False)

    progress = read_progress(str(checkpoint))

    assert progress.readable
    assert (progress.last_planned, progress.last_committed, progress.pending_batch) == (2, 1, 2)
    assert [(f.batch_id, f.name) for f in progress.files] == [(0, "a.json"), (0, "b.json"), (1, "c.json")]
    assert [f.name for f in progress.in_flight] == ["d.json"]
    assert progress.offsets == ['{"logOffset": 2}']


def test_a_compact_file_holds_every_earlier_batch_even_when_the_plain_files_are_gone(tmp_path, landing):
    checkpoint = tmp_path / "checkpoint"
    names = {n: f"f{n:02d}.json" for n in range(12)}
    for n in range(9):
        batch(checkpoint, landing, n, [names[n]])
    compacted = [entry(landing, names[n], n) for n in range(10)]
    batch(checkpoint, landing, 9, [], compact=True, log=compacted)
    for n in range(5):  # Spark deletes plain log files older than the compact file after a while
        (checkpoint / "sources" / "0" / str(n)).unlink()
    batch(checkpoint, landing, 10, [names[10]])
    batch(checkpoint, landing, 11, [names[11]])

    progress = read_progress(str(checkpoint))

    assert [f.name for f in progress.files] == [names[n] for n in range(12)]
    assert progress.pending_batch is None
    assert progress.last_committed == 11


def test_files_waiting_are_those_the_checkpoint_has_not_read_without_hidden_or_temporary_ones(tmp_path, landing):
    checkpoint = tmp_path / "checkpoint"
    for name in ["a.json", "b.json", "c.json", "d.json", ".e.json.tmp", "_SUCCESS"]:
        (landing / name).write_text("{}\n")
    os.utime(landing / "d.json", (1, 1))  # older than c.json: the list is oldest first
    batch(checkpoint, landing, 0, ["a.json"])
    batch(checkpoint, landing, 1, ["b.json"], committed=False)

    progress = read_progress(str(checkpoint))

    assert waiting_files(str(landing), progress.seen_paths()) == ["d.json", "c.json"]


def test_a_pipeline_that_never_ran_has_nothing_done_and_every_file_waiting(tmp_path, landing):
    (landing / "a.json").write_text("{}\n")

    progress = read_progress(str(tmp_path / "no-checkpoint-yet"))

    assert not progress.readable and not progress.started
    assert progress.files == [] and progress.in_flight == []
    assert waiting_files(str(landing), progress.seen_paths()) == ["a.json"]


def test_remote_folders_are_not_read(tmp_path):
    assert not read_progress("s3a://bucket/checkpoints/orders-landing/20260101T000000Z").readable
    assert waiting_files("hdfs://namenode/landing/orders", set()) is None


def test_a_line_the_reader_does_not_know_is_skipped_not_fatal(tmp_path, landing):
    checkpoint = tmp_path / "checkpoint"
    batch(checkpoint, landing, 0, [], log=[entry(landing, "a.json", 0), "not json", '{"no_path": 1}'])

    assert [f.name for f in read_progress(str(checkpoint)).files] == ["a.json"]


@pytest.mark.spark
def test_a_real_available_now_run_leaves_a_checkpoint_this_reader_understands(spark, tmp_path, landing):
    from pyspark.sql.types import LongType, StructField, StructType

    for n in range(3):
        (landing / f"part-{n}.json").write_text(f'{{"n": {n}}}\n')
        os.utime(landing / f"part-{n}.json", (1_700_000_000 + n, 1_700_000_000 + n))  # Spark reads oldest first
    checkpoint = tmp_path / "checkpoint"
    schema = StructType([StructField("n", LongType())])
    query = (
        spark.readStream.schema(schema)
        .option("maxFilesPerTrigger", 2)
        .json(str(landing))
        .writeStream.format("noop")
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)
    (landing / "late.json").write_text('{"n": 9}\n')

    progress = read_progress(str(checkpoint))

    assert progress.last_committed == progress.last_planned == 1
    assert sorted((f.batch_id, f.name) for f in progress.files) == [
        (0, "part-0.json"),
        (0, "part-1.json"),
        (1, "part-2.json"),
    ]
    assert waiting_files(str(landing), progress.seen_paths()) == ["late.json"]
