"""Checks cost: a plain parquet write vs the same write measured by our checks vs one count() per rule.

python bench/engine.py [--smoke] [--rows N]

"Our checks" is what a governed micro-batch does: one `observe` on the rows being written
(rows, failing rows) and, only when rows fail, one aggregation of the failures per rule.
"""

import shutil
import tempfile

from common import Results, interleave, parser, setup_django, table

TARGET = 0.85  # checks may cost at most 15% over the plain write


def main():
    args = parser(__doc__, rows=4_000_000).parse_args()
    rows = 60_000 if args.smoke else args.rows
    rounds = args.rounds or (1 if args.smoke else 5)
    work = tempfile.mkdtemp(prefix="dc43-bench-engine-")
    setup_django(f"sqlite:///{work}/unused.sqlite3")
    from pyspark.sql import functions as F

    from contracts.checks import compile_contract
    from contracts.demo import demo_contracts
    from pipelines.checks import BatchChecks
    from pipelines.spark import get_spark

    spark = get_spark()
    contract = compile_contract(next(p.document for p in demo_contracts() if p.contract_id.endswith("_processed")))

    def source(name, bad_every):
        flip = (F.col("id") % bad_every == bad_every - 1) if bad_every else F.lit(False)
        spark.range(rows, numPartitions=8).select(
            F.timestamp_seconds(F.col("id")).alias("timestamp"),
            F.when(flip, -F.col("id")).otherwise(F.col("id")).alias("value"),
            F.when(flip, "warning").otherwise("valid").alias("quality_flag"),
        ).write.parquet(f"{work}/{name}")
        return spark.read.parquet(f"{work}/{name}")

    healthy, failing = source("healthy", 0), source("failing", 4)
    checks = BatchChecks(contract, healthy.schema, "observe")
    measured = {}

    def plain(df):
        df.write.mode("overwrite").parquet(f"{work}/plain")

    def governed(df, label):
        observed, observation = checks.observe(df, checks.batch_aggregates())
        observed.write.mode("overwrite").parquet(f"{work}/governed")
        counts = checks.counts_from(observation.get)
        if counts["violations"]:
            counts.update(checks.rule_counts(df.where(checks.failing())))
        measured[label] = checks.judge(counts)

    def naive(df):
        df.write.mode("overwrite").parquet(f"{work}/naive")
        for rule in contract.rules:
            df.where(checks.predicates[rule.name]).count()

    plain(healthy)  # warm the JVM and the file cache before timing anything
    median, _ = interleave(
        {
            "plain write": lambda: plain(healthy),
            "write + checks (no row fails)": lambda: governed(healthy, "healthy"),
            "write + checks (1/4 rows fail)": lambda: governed(failing, "failing"),
            "write + count() per rule": lambda: naive(healthy),
        },
        rounds,
    )
    base = rows / median["plain write"]
    print(f"engine benchmark: {rows:,} rows, {len(contract.rules)} rules, {rounds} interleaved round(s), median times")
    print(
        table(
            ["variant", "seconds", "rows/s", "ratio to plain"],
            [[name, f"{s:.2f}", f"{rows / s:,.0f}", f"{rows / s / base:.2f}"] for name, s in median.items()],
        )
    )
    assert measured["healthy"].violations == 0 and measured["failing"].violations == rows // 4
    assert measured["failing"].reasons == {"value.mustBeGreaterOrEqualTo": rows // 4}, measured["failing"].reasons
    print(f"checks found {measured['failing'].violations:,} failing rows of {rows:,} where a quarter were made to fail")
    results = Results("engine")
    results.at_least("checks_ratio", rows / median["write + checks (no row fails)"] / base, TARGET)
    results.at_least("checks_failing_ratio_info", rows / median["write + checks (1/4 rows fail)"] / base, 0.0)
    results.at_least("naive_ratio_info", rows / median["write + count() per rule"] / base, 0.0)
    shutil.rmtree(work, ignore_errors=True)
    results.print()


if __name__ == "__main__":
    main()
