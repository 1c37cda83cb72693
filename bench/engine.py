"""Checks cost: a plain parquet write vs the same write measured by our one-pass checks vs one count() per rule.

python bench/engine.py [--smoke] [--rows N]
"""

import shutil
import tempfile

from common import Results, interleave, parser, setup_django, table

TARGET = 0.85  # checks may cost at most 15% over the plain write


def main():
    args = parser(__doc__, rows=4_000_000).parse_args()
    rows = 60_000 if args.smoke else args.rows
    rounds = args.rounds or (1 if args.smoke else 3)
    setup_django()
    from pyspark.sql import functions as F

    from contracts.checks import compile_contract
    from contracts.demo import demo_contracts
    from pipelines.checks import BatchChecks
    from pipelines.spark import get_spark

    spark = get_spark()
    contract = compile_contract(next(p.document for p in demo_contracts() if p.contract_id.endswith("_processed")))
    work = tempfile.mkdtemp(prefix="dc43-bench-engine-")
    source = f"{work}/source"
    # A quarter of the rows break value >= 0, as in the rejects scenario.
    spark.range(rows, numPartitions=4).select(
        F.timestamp_seconds(F.col("id")).alias("timestamp"),
        F.when(F.col("id") % 4 == 3, -F.col("id")).otherwise(F.col("id")).alias("value"),
        F.when(F.col("id") % 4 == 3, "warning").otherwise("valid").alias("quality_flag"),
    ).write.parquet(source)
    df = spark.read.parquet(source)
    checks = BatchChecks(contract, df.schema, "observe")
    measured = {}

    def plain():
        df.write.mode("overwrite").parquet(f"{work}/plain")

    def governed():
        observed, observation = checks.observe(df)
        observed.write.mode("overwrite").parquet(f"{work}/governed")
        measured.update(checks.counts_from(observation.get))

    def naive():
        df.write.mode("overwrite").parquet(f"{work}/naive")
        for rule in contract.rules:
            predicate = checks.predicates[rule.name]
            df.where(predicate).count()

    plain()  # warm the JVM and the file cache before timing anything
    median, _ = interleave({"plain write": plain, "write + one-pass checks": governed,
                            "write + count() per rule": naive}, rounds)
    base = rows / median["plain write"]
    print(f"engine benchmark: {rows:,} rows, {len(contract.rules)} rules, {rounds} interleaved round(s), median times")
    print(table(["variant", "seconds", "rows/s", "ratio to plain"],
                [[name, f"{s:.2f}", f"{rows / s:,.0f}", f"{rows / s / base:.2f}"] for name, s in median.items()]))
    assert measured["rows"] == rows and measured["violations"] == rows // 4, measured
    print(f"checks counted {measured['violations']:,} failing rows of {measured['rows']:,} (expected a quarter)")
    results = Results("engine")
    results.at_least("checks_ratio", rows / median["write + one-pass checks"] / base, TARGET)
    results.at_least("naive_ratio_info", rows / median["write + count() per rule"] / base, 0.0)
    shutil.rmtree(work, ignore_errors=True)
    results.print()


if __name__ == "__main__":
    main()
