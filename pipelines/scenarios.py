"""The three demo streams, and the Python way to run them.

Each scenario reads Spark's rate source (6 rows/s on one partition, as dc43's demo
does) under the input contract, shapes it, and writes it under the output contract.
"""

from pyspark.sql import functions as F

from pipelines.catalog import DEMO_VERSION, INPUT_CONTRACT, REJECTS_CONTRACT, SCENARIOS  # noqa: F401
from pipelines.streaming import read_stream_with_contract

RATE_OPTIONS = {"rowsPerSecond": 6, "numPartitions": 1}


def read_rate_source(spark, run):
    return read_stream_with_contract(spark, INPUT_CONTRACT, DEMO_VERSION, format="rate", options=RATE_OPTIONS, run=run)


def healthy(events):
    return events.withColumn("quality_flag", F.lit("valid")), None


def with_bad_rows(events):
    # Every fourth row gets a negative value: it breaks value >= 0 and goes to quarantine.
    fourth = F.col("value") % 4 == 3
    shaped = events.withColumn("quality_flag", F.when(fourth, F.lit("warning")).otherwise(F.lit("valid"))).withColumn(
        "value", F.when(fourth, -F.col("value")).otherwise(F.col("value"))
    )
    return shaped, REJECTS_CONTRACT


def schema_break(events):
    return events.withColumn("quality_flag", F.lit("valid")).drop("value"), None


SHAPES = {
    "streaming-valid": healthy,
    "streaming-dq-rejects": with_bad_rows,
    "streaming-schema-break": schema_break,
}


def run_streaming_scenario(key, seconds=None, run_type=None, user=None, via="python"):
    """Run a scenario and wait for it: returns the finished Run. Bad input raises ValueError, recording nothing."""
    from pipelines.runner import start_run, wait_for

    run = start_run(key, seconds=seconds, run_type=run_type, user=user, via=via)
    wait_for(run)
    run.refresh_from_db()
    return run
