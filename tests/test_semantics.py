"""Every row of docs/semantics.md, against real Spark: a contract snippet, a few rows, the failures per rule."""

import datetime
from dataclasses import dataclass, field

import pytest

from contracts.checks import compile_contract

pytestmark = pytest.mark.spark


@dataclass
class Case:
    id: str
    ddl: str  # Spark DDL of the one column `v` (or of several columns for table rules)
    prop: dict  # the ODCS property for `v` (without its name)
    rows: list
    failed: dict  # rule name -> offending rows expected
    passed: dict = field(default_factory=dict)  # rule name -> expected pass/fail, when it is not "no failed rows"
    values: dict = field(default_factory=dict)  # rule name -> measured value
    table_quality: list = field(default_factory=list)
    extra_props: list = field(default_factory=list)


NUMS = [None, -1, 0, 5, 10, 11]


def q(**item):
    return {"quality": [item]}


CASES = [
    Case("required counts nulls", "v bigint", {"required": True}, [1, None, None], {"v.required": 2}),
    Case(
        "unique counts rows beyond the first, not nulls",
        "v bigint",
        {"unique": True},
        [1, 1, 1, 2, None, None],
        {"v.unique": 2},
        passed={"v.unique": False},
    ),
    Case("mustBe", "v bigint", q(mustBe=5), NUMS, {"v.mustBe": 4}),
    Case("mustNotBe", "v bigint", q(mustNotBe=5), NUMS, {"v.mustNotBe": 1}),
    Case("mustBeGreaterThan", "v bigint", q(mustBeGreaterThan=0), NUMS, {"v.mustBeGreaterThan": 2}),
    Case("mustBeGreaterOrEqualTo", "v bigint", q(mustBeGreaterOrEqualTo=0), NUMS, {"v.mustBeGreaterOrEqualTo": 1}),
    Case("mustBeLessThan", "v bigint", q(mustBeLessThan=10), NUMS, {"v.mustBeLessThan": 2}),
    Case("mustBeLessOrEqualTo", "v bigint", q(mustBeLessOrEqualTo=10), NUMS, {"v.mustBeLessOrEqualTo": 1}),
    Case("mustBeBetween includes both bounds", "v bigint", q(mustBeBetween=[0, 10]), NUMS, {"v.mustBeBetween": 2}),
    Case(
        "mustNotBeBetween fails on the bounds", "v bigint", q(mustNotBeBetween=[0, 10]), NUMS, {"v.mustNotBeBetween": 3}
    ),
    Case("comparisons on doubles", "v double", q(mustBeLessThan=1.5), [1.0, 1.5, 2.25, None], {"v.mustBeLessThan": 2}),
    Case(
        "rule enum with a mustBe list",
        "v string",
        q(rule="enum", mustBe=["a", "b"]),
        ["a", "b", "c", None],
        {"v.enum": 1},
    ),
    Case("mustBe with a list alone", "v string", q(mustBe=["a"]), ["a", "z", None], {"v.mustBe": 1}),
    Case("mustNotBe with a list", "v string", q(mustNotBe=["x"]), ["x", "y", None], {"v.mustNotBe": 1}),
    Case("rule regex anchored", "v string", q(rule="regex", mustBe="^[a-z]+$"), ["abc", "a1", None], {"v.regex": 1}),
    Case(
        "a pattern matches anywhere unless anchored",
        "v string",
        q(rule="regex", mustBe="b"),
        ["abc", "xyz"],
        {"v.regex": 1},
    ),
    Case(
        "nullValues with zero tolerance",
        "v bigint",
        q(metric="nullValues", mustBe=0),
        [1, None, None],
        {"v.nullValues": 2},
        passed={"v.nullValues": False},
        values={"v.nullValues": 2},
    ),
    Case(
        "nullValues in percent within tolerance",
        "v bigint",
        q(metric="nullValues", mustBeLessThan=50, unit="percent"),
        [1, None, 3, 4],
        {"v.nullValues": 1},
        passed={"v.nullValues": True},
        values={"v.nullValues": 25.0},
    ),
    Case(
        "nullValues in percent over tolerance",
        "v bigint",
        q(metric="nullValues", mustBeLessThan=20, unit="percent"),
        [1, None, 3, 4],
        {"v.nullValues": 1},
        passed={"v.nullValues": False},
        values={"v.nullValues": 25.0},
    ),
    Case(
        "missingValues: null is always missing",
        "v string",
        q(metric="missingValues", arguments={"missingValues": ["", "N/A"]}, mustBe=0),
        ["a", "", "N/A", None],
        {"v.missingValues": 3},
        passed={"v.missingValues": False},
    ),
    Case(
        "missingValues on a number never casts text",
        "v bigint",
        q(metric="missingValues", arguments={"missingValues": ["N/A"]}, mustBeLessOrEqualTo=5),
        [1, None],
        {"v.missingValues": 1},
        passed={"v.missingValues": True},
    ),
    Case(
        "invalidValues with validValues: null is not invalid",
        "v string",
        q(metric="invalidValues", arguments={"validValues": ["a", "b"]}, mustBe=0),
        ["a", "c", None],
        {"v.invalidValues": 1},
        passed={"v.invalidValues": False},
    ),
    Case(
        "invalidValues with a pattern",
        "v string",
        q(metric="invalidValues", arguments={"pattern": "^[a-z]$"}, mustBe=0),
        ["a", "B", None],
        {"v.invalidValues": 1},
        passed={"v.invalidValues": False},
    ),
    Case(
        "invalidValues with both: a value must be listed and match",
        "v string",
        q(metric="invalidValues", arguments={"validValues": ["a", "bb"], "pattern": "^[a-z]$"}, mustBeLessThan=5),
        ["a", "bb", "c"],
        {"v.invalidValues": 2},
        passed={"v.invalidValues": True},
    ),
    Case(
        "v3.0 rule validValues with a validValues list",
        "v string",
        q(rule="validValues", validValues=["a"], mustBe=0),
        ["a", "b"],
        {"v.invalidValues": 1},
        passed={"v.invalidValues": False},
    ),
    Case(
        "duplicateValues on a column",
        "v bigint",
        q(metric="duplicateValues", mustBe=0),
        [1, 1, 1, 2, None, None],
        {"v.duplicateValues": 2},
        passed={"v.duplicateValues": False},
    ),
    Case(
        "v3.0 rule duplicateCount",
        "v bigint",
        q(rule="duplicateCount", mustBeLessThan=3),
        [1, 1, 2],
        {"v.duplicateValues": 1},
        passed={"v.duplicateValues": True},
    ),
    Case(
        "duplicateValues over a compound key at table level",
        "v bigint, w string",
        {},
        [(1, "x"), (1, "x"), (1, "y"), (None, "x"), (None, "x")],
        {"t.duplicateValues": 1},
        passed={"t.duplicateValues": False},
        table_quality=[{"metric": "duplicateValues", "arguments": {"properties": ["v", "w"]}, "mustBe": 0}],
        extra_props=[{"name": "w", "logicalType": "string"}],
    ),
    Case(
        "rowCount out of bounds",
        "v bigint",
        {},
        [1, 2],
        {},
        passed={"t.rowCount": False},
        values={"t.rowCount": 2},
        table_quality=[{"metric": "rowCount", "mustBeGreaterThan": 2}],
    ),
    Case(
        "rowCount within bounds",
        "v bigint",
        {},
        [1, 2],
        {},
        passed={"t.rowCount": True},
        values={"t.rowCount": 2},
        table_quality=[{"metric": "rowCount", "mustBeBetween": [1, 5]}],
    ),
    Case(
        "minLength and maxLength",
        "v string",
        {"logicalTypeOptions": {"minLength": 2, "maxLength": 3}},
        ["a", "ab", "abcd", None],
        {"v.minLength": 1, "v.maxLength": 1},
    ),
    Case(
        "minimum and maximum are inclusive",
        "v bigint",
        {"logicalTypeOptions": {"minimum": 1, "maximum": 10}},
        [0, 1, 10, 11, None],
        {"v.minimum": 1, "v.maximum": 1},
    ),
    Case(
        "v3.0 boolean exclusive bounds",
        "v bigint",
        {"logicalTypeOptions": {"minimum": 1, "exclusiveMinimum": True, "maximum": 10, "exclusiveMaximum": True}},
        [0, 1, 5, 10, 11],
        {"v.minimum": 2, "v.maximum": 2},
    ),
    Case(
        "numeric exclusive bounds",
        "v bigint",
        {"logicalTypeOptions": {"exclusiveMinimum": 1}},
        [1, 2],
        {"v.exclusiveMinimum": 1},
    ),
    Case(
        "logicalTypeOptions pattern",
        "v string",
        {"logicalTypeOptions": {"pattern": "^[0-9]{3}$"}},
        ["123", "12a", None],
        {"v.pattern": 1},
    ),
    Case("multipleOf", "v bigint", {"logicalTypeOptions": {"multipleOf": 5}}, [5, 7, 10, None], {"v.multipleOf": 1}),
    Case(
        "minItems and maxItems",
        "v array<string>",
        {"logicalType": "array", "logicalTypeOptions": {"minItems": 1, "maxItems": 2}},
        [["a"], [], ["a", "b", "c"], None],
        {"v.minItems": 1, "v.maxItems": 1},
    ),
    Case(
        "date minimum given as text",
        "v date",
        {"logicalType": "date", "logicalTypeOptions": {"minimum": "2024-01-01"}},
        [datetime.date(2024, 1, 1), datetime.date(2023, 12, 31)],
        {"v.minimum": 1},
    ),
    Case(
        "sql rule with ${object}",
        "v bigint",
        {},
        [1, -1, -2],
        {},
        passed={"t.sql": False},
        values={"t.sql": 2},
        table_quality=[{"type": "sql", "query": "SELECT COUNT(*) FROM ${object} WHERE v < 0", "mustBe": 0}],
    ),
    Case(
        "sql rule with {object} and ${property}",
        "v bigint",
        {"quality": [{"type": "sql", "query": "SELECT MAX(${property}) FROM {object}", "mustBeLessThan": 10}]},
        [1, 5],
        {},
        passed={"v.sql": True},
        values={"v.sql": 5},
    ),
]


def contract_for(case):
    prop = {"name": "v", **case.prop}
    obj = {"name": "t", "properties": [prop, *case.extra_props]}
    if case.table_quality:
        obj["quality"] = case.table_quality
    return {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "t", "version": "1.0.0", "schema": [obj]}


def frame(spark, case):
    rows = [r if isinstance(r, tuple) else (r,) for r in case.rows]
    return spark.createDataFrame(rows, case.ddl)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_counts_what_docs_semantics_says(spark, case, settings):
    from pipelines.checks import measure

    settings.DC43_SQL_RULES = "restricted"  # the sql cases describe a site that runs sql rules

    verdict = measure(frame(spark, case), compile_contract(contract_for(case)), "enforce")
    results = {r.rule: r for r in verdict.results}

    for rule, failed in case.failed.items():
        assert results[rule].failed == failed, f"{rule}: {results[rule]}"
        if rule not in case.passed:
            assert results[rule].passed is (failed == 0)
    for rule, passed in case.passed.items():
        assert results[rule].passed is passed, f"{rule}: {results[rule]}"
    for rule, value in case.values.items():
        assert results[rule].value == value, f"{rule}: {results[rule]}"
    assert verdict.row_count == len(case.rows)


def test_custom_and_text_rules_are_skipped_with_a_reason_never_dropped(spark):
    doc = contract_for(
        Case(
            "x",
            "v bigint",
            {
                "quality": [
                    {"type": "custom", "engine": "soda", "implementation": "checks: []"},
                    {"type": "text", "description": "values look plausible"},
                    {"rule": "somethingWeKnowNothingAbout", "mustBe": 1},
                ]
            },
            [],
            {},
        )
    )
    from pipelines.checks import measure

    verdict = measure(spark.createDataFrame([(1,)], "v bigint"), compile_contract(doc), "enforce")
    skipped = {r.rule: r for r in verdict.results if r.skipped}
    assert set(skipped) == {"v.custom", "v.text", "v.somethingWeKnowNothingAbout"}
    assert "soda" in skipped["v.custom"].note
    assert all(r.note for r in skipped.values())
    assert verdict.verdict == "ok"


def test_an_empty_batch_gives_zero_counts_not_nulls(spark):
    doc = contract_for(CASES[0])
    doc["schema"][0]["properties"][0]["quality"] = [
        {"mustBeGreaterOrEqualTo": 0},
        {"metric": "nullValues", "mustBeLessThan": 10, "unit": "percent"},
    ]
    from pipelines.checks import measure

    verdict = measure(spark.createDataFrame([], "v bigint"), compile_contract(doc), "enforce")
    assert verdict.row_count == 0 and verdict.violations == 0
    assert [(r.failed, r.value) for r in verdict.results] == [(0, 0), (0, 0), (0, 0.0)]
    assert verdict.verdict == "ok"


def test_a_missing_column_reads_as_null(spark):
    doc = contract_for(Case("x", "v bigint", {"required": True, "quality": [{"mustBeGreaterThan": 0}]}, [], {}))
    from pipelines.checks import measure

    verdict = measure(spark.createDataFrame([("a",), ("b",)], "other string"), compile_contract(doc), "observe")
    results = {r.rule: r for r in verdict.results}
    assert results["v.required"].failed == 2
    assert results["v.mustBeGreaterThan"].failed == 0
    assert verdict.verdict == "warn"


def test_each_failing_row_carries_the_names_of_the_rules_it_broke(spark):
    from pipelines.checks import BatchChecks

    doc = contract_for(
        Case(
            "x",
            "v bigint",
            {
                "required": True,
                "quality": [
                    {"mustBeGreaterOrEqualTo": 0},
                    {"mustBeLessThan": 100},
                    {"metric": "nullValues", "mustBeLessThan": 90, "unit": "percent"},  # tolerant: never a row reason
                ],
            },
            [],
            {},
        )
    )
    df = spark.createDataFrame([(1,), (-5,), (None,), (500,)], "v bigint")
    checks = BatchChecks(compile_contract(doc), df.schema, "enforce")
    rows = df.select("v", checks.reasons().alias("reasons")).collect()
    reasons = {r["v"]: r["reasons"] for r in rows}
    assert reasons == {1: [], -5: ["v.mustBeGreaterOrEqualTo"], None: ["v.required"], 500: ["v.mustBeLessThan"]}
