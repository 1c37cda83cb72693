"""Tiny batches: the processing time of governed 6-row micro-batches beside a plain foreachBatch parquet write.

python bench/small_batches.py [--smoke] [--files N] [--rounds N]

The demo stream brings 6 rows a second, so on a live page the fixed cost of each micro-batch matters
more than throughput. A backlog of 6-row parquet files is drained one file per micro-batch
(maxFilesPerTrigger=1, Trigger.AvailableNow), so every batch holds exactly 6 rows and the batches
run back to back, through:
- the real `write_stream_with_contract` with the demo output contract (the healthy stream), and with
  the rejects contract on a backlog where every fourth row breaks `value >= 0` (the quarantine demo);
- a plain `foreachBatch` that writes each batch as parquet, nothing else (the reference).
A batch's processing time is Spark's own `triggerExecution` from the query's progress, the same
clock for every variant; the first batch of every query (plan and code generation) is left out.
Where the governed batch's time goes comes from the writer's timings (MicroBatch.metrics["timings"])
set against Spark's `addBatch` for the same batch.
"""

import shutil
import statistics
import tempfile
import time

from common import Results, parser, scratch_site, table

ROWS_PER_BATCH = 6
TARGET = 1.50


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def durations(query):
    """Spark's duration figures (ms) of each non-empty batch but the first, by batch id.

    (numInputRows counts each scan of the batch: a routing writer reads its 6 rows twice, and shows 12.)
    """
    return {p.batchId: dict(p.durationMs) for p in query.recentProgress if p.batchId > 0 and p.numInputRows}


def main():
    p = parser(__doc__)
    p.add_argument("--files", type=int, default=40, help="6-row files in the backlog: micro-batches per query")
    args = p.parse_args()
    files = 4 if args.smoke else args.files
    rounds = args.rounds or (1 if args.smoke else 3)
    work = tempfile.mkdtemp(prefix="dc43-bench-small-")
    spark = scratch_site(work)

    from pyspark.sql import functions as F

    from pipelines.catalog import OUTPUT_CONTRACT, REJECTS_CONTRACT
    from pipelines.streaming import read_stream_with_contract, write_stream_with_contract
    from registry.models import MicroBatch, Run

    spark.conf.set("spark.sql.streaming.numRecentProgressUpdates", str(files + 10))

    def backlog(name, bad_every):
        path = f"{work}/{name}"
        flip = (F.col("id") % bad_every == bad_every - 1) if bad_every else F.lit(False)
        spark.range(files * ROWS_PER_BATCH, numPartitions=files).select(
            F.timestamp_seconds(F.col("id")).alias("timestamp"),
            F.when(flip, -F.col("id")).otherwise(F.col("id")).alias("value"),
            F.when(flip, "warning").otherwise("valid").alias("quality_flag"),
        ).write.parquet(path)
        return path

    healthy_path, rejects_path = backlog("healthy", 0), backlog("rejects", 4)
    schema = spark.read.parquet(healthy_path).schema
    options = {"maxFilesPerTrigger": 1}
    counter = iter(range(10**6))
    seen = {"governed": {}, "governed, 1/4 rows to rejects": {}, "plain foreachBatch write": {}}
    runs = []

    def governed(path, rejects, label):
        run = Run.objects.create(
            scenario="bench-small-batches", run_type="observe", requested_seconds=1, started_via="python"
        )
        df = read_stream_with_contract(
            spark, OUTPUT_CONTRACT, format="parquet", path=path, schema=schema, options=options
        )
        handle = write_stream_with_contract(
            df, OUTPUT_CONTRACT, run=run, run_type="observe", rejects=rejects, trigger={"availableNow": True}
        )
        handle.query.awaitTermination()
        run.finish()
        runs.append(run)
        for batch, figures in durations(handle.query).items():
            seen[label][(run.id, batch)] = figures

    def plain(path):
        n = next(counter)
        query = (
            spark.readStream.schema(schema)
            .options(**options)
            .parquet(path)
            .writeStream.foreachBatch(
                lambda df, batch_id: df.write.mode("overwrite").parquet(f"{work}/plain-{n}/{batch_id}")
            )
            .option("checkpointLocation", f"{work}/ck-plain-{n}")
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        for batch, figures in durations(query).items():
            seen["plain foreachBatch write"][(n, batch)] = figures

    started = time.perf_counter()
    for _ in range(rounds):  # interleaved, so drift in the machine hits every variant alike
        plain(healthy_path)
        governed(healthy_path, None, "governed")
        governed(rejects_path, REJECTS_CONTRACT, "governed, 1/4 rows to rejects")
    wall = time.perf_counter() - started

    def figure(label, key="triggerExecution"):
        return [f[key] / 1000 for f in seen[label].values()]

    print(
        f"small batches benchmark: {files} micro-batches of {ROWS_PER_BATCH} rows per query "
        f"(one 6-row parquet file each, AvailableNow), {rounds} interleaved round(s), {wall:.0f} s in all; "
        "seconds per batch from Spark's progress, the first batch of each query left out"
    )
    lines = []
    for label in seen:
        trigger, add = figure(label), figure(label, "addBatch")
        lines.append(
            [
                label,
                len(trigger),
                f"{statistics.median(trigger):.3f}",
                f"{p95(trigger):.3f}",
                f"{statistics.median(add):.3f}",
                f"{p95(add):.3f}",
            ]
        )
    print(table(["variant", "batches", "median", "p95", "addBatch median", "addBatch p95"], lines))

    # Where a governed batch's time goes: the writer's own timings, by batch, against Spark's addBatch.
    governed_labels = ["governed", "governed, 1/4 rows to rejects"]
    names = ["measure + write output to staging", "rejects write", "judge, slices", "record"]
    parts = {label: {name: [] for name in names} for label in governed_labels}
    for batch in MicroBatch.objects.filter(run__in=runs, row_count__gt=0):
        label = next((lb for lb in governed_labels if (batch.run_id, batch.batch_id) in seen[lb]), None)
        if label is None:
            continue  # the first batch of its query
        timings, spark_ms = batch.metrics["timings"], seen[label][(batch.run_id, batch.batch_id)]
        rejects = timings.get("write_rejects", 0.0)
        parts[label]["measure + write output to staging"].append(timings["write_output"])
        parts[label]["rejects write"].append(rejects)
        parts[label]["judge, slices"].append(timings["total_before_record"] - timings["write_output"] - rejects)
        # addBatch is the whole foreachBatch call: what follows the writer's clock is the registry transaction,
        # the rename of the staged slices into place and the event
        parts[label]["record"].append(spark_ms["addBatch"] / 1000 - timings["total_before_record"])
    print("where a governed 6-row batch's time goes (median / p95 seconds, from MicroBatch.metrics timings):")
    print(
        table(
            ["part", *governed_labels],
            [
                [
                    name,
                    *(
                        f"{statistics.median(parts[lb][name]):.3f} / {p95(parts[lb][name]):.3f}"
                        for lb in governed_labels
                    ),
                ]
                for name in names
            ],
        )
    )
    spark_parts = ["latestOffset", "queryPlanning", "walCommit", "commitOffsets"]
    print("Spark's own per-trigger parts (medians, seconds):")
    print(
        table(
            ["part", *seen],
            [[k, *(f"{statistics.median(figure(label, k) or [0]):.3f}" for label in seen)] for k in spark_parts],
        )
    )
    for run in runs:
        totals = run.totals()
        assert totals["rows"] == files * ROWS_PER_BATCH, totals
    print(f"registry check: {len(runs)} governed runs, each recorded {files * ROWS_PER_BATCH} rows")

    plain_median = statistics.median(figure("plain foreachBatch write"))
    results = Results("small_batches")
    results.at_most("governed_vs_plain_ratio", statistics.median(figure("governed")) / plain_median, TARGET)
    plain_p95 = p95(figure("plain foreachBatch write"))
    results.at_least("governed_vs_plain_p95_ratio_info", p95(figure("governed")) / plain_p95, 0.0)
    results.at_least(
        "rejects_vs_plain_ratio_info", statistics.median(figure("governed, 1/4 rows to rejects")) / plain_median, 0.0
    )
    shutil.rmtree(work, ignore_errors=True)
    results.print()


if __name__ == "__main__":
    main()
