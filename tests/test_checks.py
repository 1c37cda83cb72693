"""Compiling contracts into rules, comparing schemas and judging batches: pure Python, no Spark."""

import pytest

from contracts.checks import (
    BLOCK,
    METRIC,
    OK,
    ROW,
    SKIPPED,
    WARN,
    Column,
    CompiledContract,
    accepts,
    compare_schema,
    compile_contract,
    judge,
    normalise_type,
    zero_tolerance,
)
from contracts.demo import demo_contracts


def contract(*props, quality=None, custom=None):
    obj = {"name": "t", "properties": list(props)}
    if quality:
        obj["quality"] = quality
    if custom:
        obj["customProperties"] = custom
    return {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "c", "version": "1.0.0", "schema": [obj]}


def demo(contract_id):
    return next(p.document for p in demo_contracts() if p.contract_id == contract_id)


def test_the_demo_output_contract_compiles_to_five_row_rules():
    compiled = compile_contract(demo("demo.streaming.events_processed"))
    assert [(r.name, r.level) for r in compiled.rules] == [
        ("timestamp.required", ROW),
        ("value.required", ROW),
        ("value.mustBeGreaterOrEqualTo", ROW),
        ("quality_flag.required", ROW),
        ("quality_flag.enum", ROW),
    ]
    assert compiled.rule("quality_flag.enum").params == {"values": ["valid", "warning"]}
    assert compiled.column_names == ["timestamp", "value", "quality_flag"]


def test_rule_names_stay_unique():
    compiled = compile_contract(
        contract({"name": "v", "quality": [{"mustBeGreaterThan": 0}, {"mustBeGreaterThan": 1}]})
    )
    assert [r.name for r in compiled.rules] == ["v.mustBeGreaterThan", "v.mustBeGreaterThan#2"]


def test_a_named_rule_keeps_its_name():
    compiled = compile_contract(contract({"name": "v", "quality": [{"name": "positive", "mustBeGreaterThan": 0}]}))
    assert compiled.rules[0].name == "positive"


@pytest.mark.parametrize(
    ("operator", "threshold", "unit", "expected"),
    [
        ("mustBe", 0, "rows", True),
        ("mustBeLessThan", 1, "rows", True),
        ("mustBeLessOrEqualTo", 0, "rows", True),
        ("mustBeLessThan", 5, "rows", False),
        ("mustBeLessThan", 5, "percent", False),
        ("mustBe", 0, "percent", True),
        ("mustBeGreaterThan", 0, "rows", False),
        ("mustBeBetween", [0, 0], "rows", True),
    ],
)
def test_zero_tolerance_decides_whether_offending_rows_are_quarantined(operator, threshold, unit, expected):
    assert zero_tolerance(operator, threshold, unit) is expected


def test_zero_tolerance_metrics_are_row_rules_and_tolerant_ones_metrics():
    compiled = compile_contract(
        contract(
            {
                "name": "v",
                "quality": [
                    {"metric": "nullValues", "mustBe": 0},
                    {"metric": "nullValues", "mustBeLessThan": 5, "unit": "percent"},
                ],
            }
        )
    )
    assert [r.level for r in compiled.rules] == [ROW, METRIC]


@pytest.mark.parametrize(
    ("operator", "threshold", "value", "expected"),
    [
        ("mustBeBetween", [0, 10], 0, True),
        ("mustBeBetween", [0, 10], 10, True),
        ("mustBeBetween", [0, 10], 11, False),
        ("mustNotBeBetween", [0, 10], 0, False),
        ("mustNotBeBetween", [0, 10], -1, True),
        ("mustBeGreaterThan", 3, 3, False),
        ("mustBeGreaterOrEqualTo", 3, 3, True),
        ("mustNotBe", 3, 3, False),
        ("mustBe", 3, None, False),
    ],
)
def test_accepts_reads_operators_with_inclusive_between(operator, threshold, value, expected):
    assert accepts(operator, threshold, value) is expected


def test_unsupported_items_are_compiled_as_skipped_with_a_reason():
    compiled = compile_contract(
        contract(
            {
                "name": "v",
                "quality": [
                    {"type": "custom", "engine": "great-expectations", "implementation": {}},
                    {"type": "text", "description": "plausible"},
                    {"rule": "fancy", "mustBe": 1},
                    {"metric": "nullValues", "mustBe": 0, "unit": "bytes"},
                    {"metric": "rowCount", "mustBe": 1},
                ],
            }
        )
    )
    assert all(r.level == SKIPPED and r.note for r in compiled.rules)


def test_severity_aliases_and_unknown_spellings():
    compiled = compile_contract(
        contract(
            {
                "name": "v",
                "quality": [
                    {"mustBeGreaterThan": 0, "severity": "WARN"},
                    {"mustBeGreaterThan": 0, "severity": "info"},
                    {"mustBeGreaterThan": 0, "severity": "critical"},
                    {"mustBeGreaterThan": 0, "severity": "whatever"},
                    {"mustBeGreaterThan": 0},
                ],
            }
        )
    )
    assert [r.severity for r in compiled.rules] == ["warning", "info", "error", "error", "error"]
    assert "whatever" in compiled.rules[3].note


def judged(run_type, severity, failed):
    compiled = compile_contract(contract({"name": "v", "quality": [{"mustBeGreaterThan": 0, "severity": severity}]}))
    return judge(compiled, {"rows": 10, "violations": failed, "v.mustBeGreaterThan": failed}, run_type)


@pytest.mark.parametrize(
    ("run_type", "severity", "failed", "verdict"),
    [
        ("observe", "error", 1, WARN),
        ("observe", "warning", 1, WARN),
        ("enforce", "error", 1, BLOCK),
        ("enforce", "warning", 1, WARN),
        ("enforce", "info", 1, WARN),
        ("enforce", "error", 0, OK),
        ("observe", "error", 0, OK),
    ],
)
def test_severity_and_run_type_decide_the_verdict(run_type, severity, failed, verdict):
    assert judged(run_type, severity, failed).verdict == verdict


def test_judge_reads_missing_counts_as_zero():
    compiled = compile_contract(demo("demo.streaming.events_processed"))
    verdict = judge(compiled, {"rows": None}, "enforce")
    assert verdict.verdict == OK and verdict.row_count == 0
    assert {r.failed for r in verdict.results} == {0}


def test_reasons_list_only_row_rules_that_failed():
    compiled = compile_contract(
        contract(
            {
                "name": "v",
                "required": True,
                "quality": [
                    {"mustBeGreaterThan": 0},
                    {"metric": "nullValues", "mustBeLessThan": 50, "unit": "percent"},
                ],
            }
        )
    )
    verdict = judge(
        compiled, {"rows": 4, "violations": 2, "v.required": 1, "v.mustBeGreaterThan": 1, "v.nullValues": 1}
    )
    assert verdict.reasons == {"v.required": 1, "v.mustBeGreaterThan": 1}
    assert verdict.verdict == BLOCK


def test_a_rule_that_could_not_run_fails_with_its_error():
    compiled = compile_contract(contract({"name": "v"}, quality=[{"type": "sql", "query": "SELECT 1", "mustBe": 1}]))
    verdict = judge(compiled, {"rows": 3, "t.sql": {"error": "could not run: boom"}}, "enforce")
    assert verdict.results[0].note == "could not run: boom"
    assert verdict.verdict == BLOCK


@pytest.mark.parametrize(
    ("spelled", "spark"),
    [
        ("long", "bigint"),
        ("BIGINT", "bigint"),
        ("int64", "bigint"),
        ("integer", "int"),
        ("INT", "int"),
        ("varchar(20)", "string"),
        ("text", "string"),
        ("double precision", "double"),
        ("real", "float"),
        ("bool", "boolean"),
        ("timestamptz", "timestamp"),
        ("numeric(10, 2)", "decimal(10,2)"),
        ("array<varchar>", "array<string>"),
        ("map<text, long>", "map<string,bigint>"),
        ("struct<a: int, b: text>", "struct<a:int,b:string>"),
    ],
)
def test_type_synonyms_normalise_to_spark_spelling(spelled, spark):
    assert normalise_type(spelled) == spark


def gate(compiled, fields):
    return {(d.column, d.verdict, d.problem) for d in compare_schema(fields, compiled)}


OUTPUT = compile_contract(demo("demo.streaming.events_processed"))


def test_gate_passes_the_demo_output_schema():
    assert (
        gate(OUTPUT, [("timestamp", "timestamp", True), ("value", "bigint", True), ("quality_flag", "string", True)])
        == set()
    )


def test_gate_blocks_a_dropped_required_column():
    assert gate(OUTPUT, [("timestamp", "timestamp", True), ("quality_flag", "string", True)]) == {
        ("value", BLOCK, "required column is missing")
    }


def test_gate_blocks_a_changed_type_and_accepts_synonyms():
    compiled = CompiledContract("c", "1", "t", [Column("v", physical_type="long", required=True)], [])
    assert gate(compiled, [("v", "bigint", False)]) == set()
    assert gate(compiled, [("v", "int", False)]) == {("v", BLOCK, "type does not match the contract")}


def test_gate_warns_on_extra_columns_and_missing_optional_ones():
    compiled = CompiledContract(
        "c", "1", "t", [Column("v", logical_type="integer"), Column("w", logical_type="string")], []
    )
    assert gate(compiled, [("v", "smallint", True), ("extra", "string", True)]) == {
        ("w", WARN, "optional column is missing"),
        ("extra", WARN, "column not in the contract"),
    }


def test_gate_blocks_extra_columns_when_the_schema_is_closed():
    compiled = compile_contract(
        contract({"name": "v", "logicalType": "integer"}, custom=[{"property": "closed", "value": True}])
    )
    assert compiled.closed
    assert gate(compiled, [("v", "int", True), ("extra", "string", True)]) == {
        ("extra", BLOCK, "column not in the contract (the schema is closed)")
    }


def test_logical_types_accept_the_engine_types_that_hold_them():
    compiled = CompiledContract(
        "c",
        "1",
        "t",
        [
            Column("n", logical_type="number"),
            Column("i", logical_type="integer"),
            Column("ts", logical_type="timestamp"),
            Column("a", logical_type="array"),
            Column("o", logical_type="object"),
        ],
        [],
    )
    ok_fields = [
        ("n", "decimal(10,2)", True),
        ("i", "tinyint", True),
        ("ts", "timestamp_ntz", True),
        ("a", "array<int>", True),
        ("o", "struct<x:int>", True),
    ]
    assert gate(compiled, ok_fields) == set()
    assert gate(
        compiled,
        [("n", "string", True), ("i", "double", True), ("ts", "date", True), ("a", "string", True), ("o", "int", True)],
    ) == {(name, BLOCK, "type does not match the contract") for name in ("n", "i", "ts", "a", "o")}
