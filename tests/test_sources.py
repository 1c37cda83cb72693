"""Landing-folder sources: read with the input contract's schema, malformed lines kept with their raw text."""

import json
import threading

import pytest

from contracts.checks import compile_contract
from pipelines.sources import MALFORMED_COLUMN, SourceError, contract_schema, read_source

pytestmark = pytest.mark.spark

ORDERS = {
    "apiVersion": "v3.0.2",
    "kind": "DataContract",
    "id": "test.orders_raw",
    "version": "0.1.0",
    "status": "active",
    "schema": [
        {
            "name": "orders",
            "properties": [
                {"name": "order_id", "logicalType": "string", "physicalType": "string", "required": True},
                {"name": "amount", "logicalType": "number", "physicalType": "double"},
                {"name": "currency", "logicalType": "string"},
                {"name": "ordered_at", "logicalType": "timestamp", "physicalType": "timestamp"},
            ],
        }
    ],
}


def drain(df):
    """Every row the stream delivers from what is in the folder now (availableNow), as dicts."""
    rows, lock = [], threading.Lock()

    def collect(batch_df, batch_id):
        with lock:
            rows.extend(r.asDict() for r in batch_df.collect())

    query = df.writeStream.foreachBatch(collect).trigger(availableNow=True).start()
    query.awaitTermination(120)
    query.stop()
    return rows


@pytest.fixture
def compiled():
    return compile_contract(ORDERS)


def test_the_schema_is_the_contracts_in_its_order_and_types(spark, compiled):
    schema = contract_schema(compiled)
    assert [(f.name, f.dataType.simpleString()) for f in schema.fields] == [
        ("order_id", "string"),
        ("amount", "double"),
        ("currency", "string"),
        ("ordered_at", "timestamp"),
    ]


def test_json_lines_that_do_not_parse_keep_their_raw_text_and_never_become_rows_of_nulls(spark, compiled, tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    good = [
        {"order_id": f"o{i}", "amount": i * 1.5, "currency": "EUR", "ordered_at": "2026-01-01T00:00:00Z"}
        for i in range(5)
    ]
    lines = [json.dumps(r) for r in good] + ["{not json at all", '{"order_id": "o9", "amount": "lots"}']
    (folder / "part-1.json").write_text("\n".join(lines) + "\n")
    source = read_source(spark, compiled, format="json", path=str(folder))
    assert source.malformed_column == MALFORMED_COLUMN
    assert source.gate["verdict"] == "ok", source.gate
    rows = drain(source.df)
    parsed = [r for r in rows if r[MALFORMED_COLUMN] is None]
    malformed = [r for r in rows if r[MALFORMED_COLUMN] is not None]
    assert sorted(r["order_id"] for r in parsed) == [f"o{i}" for i in range(5)]
    assert {r["amount"] for r in parsed} == {i * 1.5 for i in range(5)}
    # The line with a string where the contract says double is malformed too: its text is kept whole.
    assert sorted(r[MALFORMED_COLUMN] for r in malformed) == sorted(lines[5:])


def test_csv_reads_its_header_and_keeps_malformed_lines(spark, compiled, tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "order_id,amount,currency,ordered_at\no1,2.5,EUR,2026-01-01 00:00:00\no2,oops,EUR,2026-01-01 00:00:00\n"
    )
    rows = drain(read_source(spark, compiled, format="csv", path=str(folder)).df)
    assert [(r["order_id"], r[MALFORMED_COLUMN] is None) for r in sorted(rows, key=lambda r: r["order_id"])] == [
        ("o1", True),
        ("o2", False),
    ]


def test_parquet_is_read_with_the_contract_schema_not_the_files(spark, compiled, tmp_path):
    folder = tmp_path / "landing"
    spark.createDataFrame(
        [("o1", 3.0, "EUR", None, "extra")],
        "order_id string, amount double, currency string, ordered_at timestamp, note string",
    ).write.parquet(str(folder))
    source = read_source(spark, compiled, format="parquet", path=str(folder))
    assert source.malformed_column is None
    assert source.df.columns == ["order_id", "amount", "currency", "ordered_at"]
    assert [r["order_id"] for r in drain(source.df)] == ["o1"]


def test_a_missing_landing_folder_is_a_clear_error_before_any_query_starts(spark, compiled, tmp_path):
    active = len(spark.streams.active)
    with pytest.raises(SourceError, match="landing folder .*nowhere does not exist"):
        read_source(spark, compiled, format="json", path=str(tmp_path / "nowhere"))
    assert len(spark.streams.active) == active


def test_an_unknown_format_and_a_file_source_without_a_path_are_refused(spark, compiled):
    with pytest.raises(SourceError, match="unknown source format 'xml'"):
        read_source(spark, compiled, format="xml", path="/tmp")
    with pytest.raises(SourceError, match="needs the path"):
        read_source(spark, compiled, format="json")


def test_a_column_without_a_readable_type_is_refused_with_its_name(spark):
    document = json.loads(json.dumps(ORDERS))
    document["schema"][0]["properties"][2] = {"name": "blob", "logicalType": "object"}
    with pytest.raises(SourceError, match="column 'blob'"):
        contract_schema(compile_contract(document))
