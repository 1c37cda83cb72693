"""The schema gate on real Spark DataFrames against the demo output contract."""

import pytest
from pyspark.sql import functions as F

from contracts.checks import compile_contract
from contracts.demo import demo_contracts

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def output_contract():
    doc = next(p.document for p in demo_contracts() if p.contract_id == "demo.streaming.events_processed")
    return compile_contract(doc)


@pytest.fixture(scope="module")
def events(spark):
    return spark.range(3).select(
        F.current_timestamp().alias("timestamp"), F.col("id").alias("value"), F.lit("valid").alias("quality_flag")
    )


def differences(gate):
    return {(d["column"], d["expected"], d["found"], d["verdict"]) for d in gate["differences"]}


def test_the_gate_passes_the_stream_the_contract_describes(events, output_contract):
    from pipelines.checks import schema_gate

    gate = schema_gate(events.schema, output_contract)
    assert gate["verdict"] == "ok" and gate["differences"] == []
    assert [c["name"] for c in gate["snapshot"]] == ["timestamp", "value", "quality_flag"]
    assert gate["contract"] == "demo.streaming.events_processed@0.1.0"


def test_the_gate_blocks_a_dropped_required_column(events, output_contract):
    from pipelines.checks import schema_gate

    gate = schema_gate(events.drop("value").schema, output_contract)
    assert gate["verdict"] == "block"
    assert differences(gate) == {("value", "bigint", "missing", "block")}


def test_the_gate_blocks_a_changed_type(events, output_contract):
    from pipelines.checks import schema_gate

    gate = schema_gate(events.withColumn("value", F.col("value").cast("string")).schema, output_contract)
    assert differences(gate) == {("value", "bigint", "string", "block")}


def test_the_gate_warns_on_an_extra_column(events, output_contract):
    from pipelines.checks import schema_gate

    gate = schema_gate(events.withColumn("note", F.lit("x")).schema, output_contract)
    assert gate["verdict"] == "warn"
    assert differences(gate) == {("note", "absent", "string", "warn")}


def test_the_gate_accepts_an_int_for_a_long_only_when_the_contract_says_so(spark, output_contract):
    from pipelines.checks import schema_gate

    df = spark.range(1).select(F.col("id").cast("int").alias("value"))
    contract = compile_contract(
        {
            "apiVersion": "v3.1.0",
            "kind": "DataContract",
            "id": "c",
            "version": "1",
            "schema": [{"name": "t", "properties": [{"name": "value", "physicalType": "INTEGER"}]}],
        }
    )
    assert schema_gate(df.schema, contract)["verdict"] == "ok"
    value = next(d for d in schema_gate(df.schema, output_contract)["differences"] if d["column"] == "value")
    assert (value["found"], value["verdict"]) == ("int", "block")
