"""The shapes the demo scenarios give Spark's rate source: each a DataFrame -> DataFrame function.

A scenario in pipelines/catalog.py names one by its dotted path; the runner imports it.
"""

from pyspark.sql import functions as F


def healthy(events):
    return events.withColumn("quality_flag", F.lit("valid"))


def with_bad_rows(events):
    # Every fourth row gets a negative value: it breaks value >= 0 and goes to quarantine.
    fourth = F.col("value") % 4 == 3
    return events.withColumn("quality_flag", F.when(fourth, F.lit("warning")).otherwise(F.lit("valid"))).withColumn(
        "value", F.when(fourth, -F.col("value")).otherwise(F.col("value"))
    )


def schema_break(events):
    return events.withColumn("quality_flag", F.lit("valid")).drop("value")
