"""Governed throughput: a parquet backlog drained as a stream (Trigger.AvailableNow) through the real
write_stream_with_contract, side by side with a plain Spark parquet sink of the same stream, the split
ceiling (two filtered plain writes) and a real peer, Databricks Labs DQX (when the `bench` extra is installed).

python bench/throughput.py [--smoke] [--rows N] [--files-per-batch K]
"""

import glob
import shutil
import statistics
import tempfile
import time

from common import Results, interleave, parser, scratch_site, table, timed

HEALTHY_TARGET = 0.90
REJECTS_TARGET = 0.60
REJECTS_VS_SPLIT_TARGET = 0.90
REJECTS_VS_DQX_TARGET = 1.00
FILES = 16


def main():
    p = parser(__doc__, rows=8_000_000)
    p.add_argument("--files-per-batch", type=int, default=4, help="maxFilesPerTrigger: backlog files per micro-batch")
    args = p.parse_args()
    rows = 80_000 if args.smoke else args.rows
    rounds = args.rounds or (1 if args.smoke else 5)
    work = tempfile.mkdtemp(prefix="dc43-bench-throughput-")
    spark = scratch_site(work)

    from pyspark.sql import functions as F

    from pipelines.catalog import OUTPUT_CONTRACT, REJECTS_CONTRACT
    from pipelines.streaming import read_stream_with_contract, resolve_contract, write_stream_with_contract
    from registry.models import Run

    def backlog(name, bad_every):
        path = f"{work}/{name}"
        flip = (F.col("id") % bad_every == bad_every - 1) if bad_every else F.lit(False)
        spark.range(rows, numPartitions=FILES).select(
            F.timestamp_seconds(F.col("id")).alias("timestamp"),
            F.when(flip, -F.col("id")).otherwise(F.col("id")).alias("value"),
            F.when(flip, "warning").otherwise("valid").alias("quality_flag"),
        ).write.parquet(path)
        return path

    healthy_path, rejects_path = backlog("healthy", 0), backlog("rejects", 4)
    schema = spark.read.parquet(healthy_path).schema
    options = {"maxFilesPerTrigger": args.files_per_batch}
    counter = iter(range(10**6))
    checked = {}

    def source(path):
        return spark.readStream.schema(schema).options(**options).parquet(path)

    def plain(path):
        n = next(counter)
        query = (
            source(path)
            .writeStream.format("parquet")
            .option("path", f"{work}/plain-{n}")
            .option("checkpointLocation", f"{work}/ck-plain-{n}")
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()

    def governed(path, rejects, label):
        run = Run.objects.create(
            scenario=f"bench-{label}", run_type="observe", requested_seconds=1, started_via="python"
        )
        df = read_stream_with_contract(
            spark, OUTPUT_CONTRACT, format="parquet", path=path, schema=schema, options=options
        )
        handle = write_stream_with_contract(
            df, OUTPUT_CONTRACT, run=run, run_type="observe", rejects=rejects, trigger={"availableNow": True}
        )
        handle.query.awaitTermination()
        run.finish()
        checked[label] = run.totals()
        return run

    def plain_foreach(path):
        """The floor of any governed writer: foreachBatch with one plain write per batch, nothing else."""
        n = next(counter)
        source(path).writeStream.foreachBatch(
            lambda df, batch_id: df.write.mode("overwrite").parquet(f"{work}/foreach-{n}/{batch_id}")
        ).option("checkpointLocation", f"{work}/ck-foreach-{n}").trigger(availableNow=True).start().awaitTermination()

    def plain_split(path):
        """The structural ceiling of routing with Spark's writer: two filtered plain writes, no checks, no registry."""
        n = next(counter)
        bad = F.col("value") < 0

        def batch(df, batch_id):
            df.where(~bad).write.mode("overwrite").parquet(f"{work}/split-{n}/out/{batch_id}")
            df.where(bad).write.mode("overwrite").parquet(f"{work}/split-{n}/rejects/{batch_id}")

        source(path).writeStream.foreachBatch(batch).option("checkpointLocation", f"{work}/ck-split-{n}").trigger(
            availableNow=True
        ).start().awaitTermination()

    def cached_split(path):
        """A way past the two-scan ceiling tried for issue 14: the batch persisted, so the second write reads memory."""
        from pyspark import StorageLevel

        n = next(counter)
        bad = F.col("value") < 0

        def batch(df, batch_id):
            df.persist(StorageLevel.MEMORY_AND_DISK)
            try:
                df.where(~bad).write.mode("overwrite").parquet(f"{work}/cached-{n}/out/{batch_id}")
                df.where(bad).write.mode("overwrite").parquet(f"{work}/cached-{n}/rejects/{batch_id}")
            finally:
                df.unpersist()

        source(path).writeStream.foreachBatch(batch).option("checkpointLocation", f"{work}/ck-cached-{n}").trigger(
            availableNow=True
        ).start().awaitTermination()

    def naive(path):
        """dc43's demo way: the write, then one count() per rule on the same batch."""
        n = next(counter)
        predicates = [
            "timestamp is null",
            "value is null",
            "value < 0",
            "quality_flag is null",
            "quality_flag not in ('valid', 'warning')",
        ]

        def batch(df, batch_id):
            df.write.mode("overwrite").parquet(f"{work}/naive-{n}/{batch_id}")
            for predicate in predicates:
                df.where(predicate).count()

        source(path).writeStream.foreachBatch(batch).option("checkpointLocation", f"{work}/ck-naive-{n}").trigger(
            availableNow=True
        ).start().awaitTermination()

    dqx = DqxPeer(spark, work, counter)

    if not args.smoke:  # warm the JVM, the file cache and the code paths before timing
        plain(healthy_path)
        governed(healthy_path, None, "warmup")
    started = time.perf_counter()
    variants = {
        "plain parquet sink": lambda: plain(healthy_path),
        "governed, healthy": lambda: governed(healthy_path, None, "healthy"),
        "foreachBatch + one plain write": lambda: plain_foreach(healthy_path),
        "plain parquet sink (rejects backlog)": lambda: plain(rejects_path),
        "governed, 1/4 rows to rejects": lambda: governed(rejects_path, REJECTS_CONTRACT, "rejects"),
        "two filtered plain writes (rejects backlog)": lambda: plain_split(rejects_path),
        "two filtered plain writes of a persisted batch (rejects backlog)": lambda: cached_split(rejects_path),
        "naive: count() per rule": lambda: naive(healthy_path),
    }
    if dqx:
        variants[DQX] = lambda: dqx.run(source(rejects_path))
    median, _ = interleave(variants, rounds)
    wall = time.perf_counter() - started

    batches = -(-FILES // args.files_per_batch)
    print(
        f"throughput benchmark: {rows:,} rows in {FILES} parquet files, {batches} micro-batches of "
        f"{args.files_per_batch} files (AvailableNow), {rounds} interleaved round(s), medians, {wall:.0f} s in all"
    )
    plain_rate = rows / median["plain parquet sink"]
    plain_rejects_rate = rows / median["plain parquet sink (rejects backlog)"]
    lines = []
    for name, seconds in median.items():
        base = plain_rejects_rate if "rejects" in name else plain_rate
        lines.append([name, f"{seconds:.2f}", f"{rows / seconds:,.0f}", f"{rows / seconds / base:.2f}"])
    print(table(["variant", "seconds", "rows/s", "ratio to plain"], lines))
    assert checked["healthy"]["rows"] == rows and checked["healthy"]["rejected"] == 0, checked
    assert checked["rejects"]["rows"] == rows and checked["rejects"]["rejected"] == rows // 4, checked
    print(
        f"registry check: healthy run recorded {checked['healthy']['rows']:,} rows; "
        f"rejects run quarantined {checked['rejects']['rejected']:,} of {checked['rejects']['rows']:,}"
    )

    if dqx:
        good, bad = dqx.counts()
        assert (good, bad) == (rows - rows // 4, rows // 4), (good, bad)
        print(f"dqx check: DQX {dqx.version} split the rejects backlog into {good:,} good and {bad:,} bad rows")
    else:
        print(f"dqx: not measured ({dqx.missing}); install the bench extra: pip install -e '.[bench]'")

    # The footer prover (the lead wires it into the writer): its cost per micro-batch of the healthy backlog.
    proof_seconds = footer_proof(healthy_path, args.files_per_batch, resolve_contract(OUTPUT_CONTRACT)[1])
    plain_batch = median["plain parquet sink"] / batches
    print(
        f"footer proof: every rule of {OUTPUT_CONTRACT} proven from the footers of each {args.files_per_batch}-file "
        f"micro-batch of the healthy backlog in {proof_seconds * 1000:.1f} ms (median), against "
        f"{plain_batch:.2f} s for the plain sink's micro-batch"
    )

    results = Results("throughput")
    results.at_least("healthy_ratio", rows / median["governed, healthy"] / plain_rate, HEALTHY_TARGET)
    results.at_least(
        "rejects_ratio", rows / median["governed, 1/4 rows to rejects"] / plain_rejects_rate, REJECTS_TARGET
    )
    results.at_least("naive_ratio_info", rows / median["naive: count() per rule"] / plain_rate, 0.0)
    results.at_least("foreach_floor_ratio_info", rows / median["foreachBatch + one plain write"] / plain_rate, 0.0)
    results.at_least(
        "split_ceiling_ratio_info",
        rows / median["two filtered plain writes (rejects backlog)"] / plain_rejects_rate,
        0.0,
    )
    results.at_least(
        "cached_split_ratio_info",
        rows / median["two filtered plain writes of a persisted batch (rejects backlog)"] / plain_rejects_rate,
        0.0,
    )
    results.at_least(
        "rejects_vs_split_ratio",
        median["two filtered plain writes (rejects backlog)"] / median["governed, 1/4 rows to rejects"],
        REJECTS_VS_SPLIT_TARGET,
    )
    if dqx:
        results.at_least(
            "rejects_vs_dqx_ratio", median[DQX] / median["governed, 1/4 rows to rejects"], REJECTS_VS_DQX_TARGET
        )
    results.at_least("footer_proof_percent_of_plain_batch_info", 100 * proof_seconds / plain_batch, 0.0)
    shutil.rmtree(work, ignore_errors=True)
    results.print()


def footer_proof(path, per_batch, compiled):
    """Median seconds to prove the contract from the footers of each micro-batch's files; every rule must hold."""
    from pipelines.footers import parquet_files, prove

    files = parquet_files(path)
    seconds = []
    for i in range(0, len(files), per_batch):
        elapsed, proof = timed(lambda i=i: prove(files[i : i + per_batch], compiled))
        assert not proof.unknown and proof.violations == 0, {n: f.why for n, f in proof.findings.items()}
        seconds.append(elapsed)
    return statistics.median(seconds)


DQX = "DQX apply_checks_and_split, good and bad written (rejects backlog)"


class DqxPeer:
    """Databricks Labs DQX checking the demo's rules inside foreachBatch, then writing its good and bad rows.

    DQX runs on open-source Spark once its engine has a workspace client; a MagicMock stands in for that
    client (it is Databricks' REST API, not Spark: nothing measured goes through it). The enum is a
    `sql_expression` because `is_in_list` builds its message from the allowed values as if they were columns
    on pyspark 4.3. A falsy instance (with `.missing`) when DQX is not installed.
    """

    def __init__(self, spark, work, counter):
        self.work, self.counter, self.last = work, counter, None
        try:
            from unittest.mock import MagicMock

            from databricks.labs.dqx import check_funcs
            from databricks.labs.dqx.__version__ import __version__
            from databricks.labs.dqx.engine import DQEngine
            from databricks.labs.dqx.rule import DQRowRule
        except ImportError as exc:
            self.missing = str(exc)
            return
        self.missing, self.version, self.spark = "", __version__, spark
        self.engine = DQEngine(MagicMock(), spark=spark)

        def rule(check, column=None, **kwargs):
            return DQRowRule(criticality="error", check_func=check, column=column, check_func_kwargs=kwargs)

        self.checks = [
            rule(check_funcs.is_not_null, "timestamp"),
            rule(check_funcs.is_not_null, "value"),
            rule(check_funcs.is_not_less_than, "value", limit=0),
            rule(check_funcs.is_not_null, "quality_flag"),
            rule(check_funcs.sql_expression, expression="quality_flag is null or quality_flag in ('valid', 'warning')"),
        ]

    def __bool__(self):
        return not self.missing

    def run(self, stream):
        n = self.last = next(self.counter)

        def batch(df, batch_id):
            good, bad = self.engine.apply_checks_and_split(df, self.checks)
            good.write.mode("overwrite").parquet(f"{self.work}/dqx-{n}/good/{batch_id}")
            bad.write.mode("overwrite").parquet(f"{self.work}/dqx-{n}/bad/{batch_id}")

        stream.writeStream.foreachBatch(batch).option("checkpointLocation", f"{self.work}/ck-dqx-{n}").trigger(
            availableNow=True
        ).start().awaitTermination()

    def counts(self):
        """Rows DQX wrote as good and as bad in its last run (read back after the timing, for the check)."""
        folders = {side: glob.glob(f"{self.work}/dqx-{self.last}/{side}/*") for side in ("good", "bad")}
        return tuple(self.spark.read.parquet(*folders[side]).count() for side in ("good", "bad"))


if __name__ == "__main__":
    main()
