"""Transforms a pipeline may name: each is f(df) -> df, and this module is in DC43_TRANSFORM_MODULES.

The three demo scenarios' shapes live here; where their rejects go is now the pipeline's rejects contract.
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


def orders(raw):
    # Producers write " eur" as often as "EUR": a spelling of a known currency is not a violation.
    return raw.withColumn("currency", F.upper(F.trim(F.col("currency"))))
