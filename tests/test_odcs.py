"""Parsing, validation and lint of ODCS documents (contracts/odcs.py)."""

import json
import textwrap

import pytest

from contracts import odcs
from contracts.demo import demo_contracts


def document(
    api="v3.0.2", logical="integer", quality="- rule: validValues\n  validValues: [1, 2]\n  mustBe: 0", **extra
):
    text = textwrap.dedent(
        """\
        apiVersion: {api}
        kind: DataContract
        id: test.orders
        version: 1.0.0
        status: active
        schema:
          - name: orders
            properties:
              - name: amount
                logicalType: {logical}
                required: true
                quality:
        """
    ).format(api=api, logical=logical)
    text += textwrap.indent(quality, " " * 10) + "\n"
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    return text


def refusal(text):
    with pytest.raises(odcs.ContractInvalid) as caught:
        odcs.parse(text)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("api", ["v3.0.0", "v3.0.1", "v3.0.2", "3.0.2"])
def test_a_3_0_document_is_accepted_with_or_without_the_v(api):
    parsed = odcs.parse(document(api=api))
    assert parsed.contract_id == "test.orders"
    assert parsed.version == "1.0.0"
    assert parsed.api_version == "v" + api.lstrip("v")


@pytest.mark.parametrize("api", ["v3.1.0", "3.1.0"])
def test_a_3_1_document_with_metrics_is_accepted(api):
    parsed = odcs.parse(document(api=api, logical="timestamp", quality="- metric: nullValues\n  mustBe: 0"))
    assert parsed.api_version == "v3.1.0"
    assert not any("metric" in warning for warning in parsed.lint)


def test_v3_0_2_and_3_0_2_only_differ_by_a_lint_warning_about_spelling():
    spelled = odcs.parse(document(api="v3.0.2"))
    bare = odcs.parse(document(api="3.0.2"))
    assert spelled.lint == []
    assert len(bare.lint) == 1
    assert bare.lint[0].startswith("apiVersion: '3.0.2' is not one of ['v3.0.2'")


def test_a_json_document_is_accepted_like_yaml():
    as_yaml = odcs.parse(document())
    as_json = odcs.parse(json.dumps(as_yaml.document))
    assert as_json.fingerprint == as_yaml.fingerprint


def test_an_operator_only_quality_item_is_accepted_with_a_lint_warning():
    parsed = odcs.parse(document(quality="- mustBeGreaterOrEqualTo: 0"))
    assert parsed.document["schema"][0]["properties"][0]["quality"] == [{"mustBeGreaterOrEqualTo": 0}]
    assert parsed.lint == ["schema[0].properties[0].quality[0].rule: 'rule' is a required property (v3.0.2 schema)"]


def test_an_enum_rule_with_a_must_be_list_is_accepted():
    parsed = odcs.parse(document(logical="string", quality="- rule: enum\n  mustBe: [valid, warning]"))
    assert parsed.document["schema"][0]["properties"][0]["quality"][0]["mustBe"] == ["valid", "warning"]


def test_an_enum_rule_in_a_3_1_document_is_accepted_with_lint_warnings_against_the_official_schema():
    parsed = odcs.parse(document(api="v3.1.0", logical="string", quality="- rule: enum\n  mustBe: [valid, warning]"))
    assert parsed.lint
    assert all(warning.startswith("schema[0].properties[0].quality[0]") for warning in parsed.lint)
    assert any("`rule` is deprecated" in warning for warning in parsed.lint)


def test_timestamp_in_a_3_0_document_is_a_lint_warning_not_a_refusal():
    parsed = odcs.parse(document(logical="timestamp"))
    assert len(parsed.lint) == 1
    assert parsed.lint[0].startswith("schema[0].properties[0].logicalType: 'timestamp' is not one of")
    assert parsed.lint[0].endswith("(v3.0.2 schema)")


def test_the_demo_contracts_are_accepted():
    parsed = {p.contract_id: p for p in demo_contracts()}
    assert sorted(parsed) == [
        "demo.streaming.events",
        "demo.streaming.events_processed",
        "demo.streaming.events_rejects",
        "shop.orders",
        "shop.orders_raw",
        "shop.orders_rejects",
    ]
    assert {p.version for p in parsed.values()} == {"0.1.0"}
    assert {p.api_version for p in parsed.values()} == {"v3.0.2"}


def test_malformed_yaml_is_refused_with_its_position():
    problems = refusal("apiVersion: v3.0.2\nschema: [\n")
    assert len(problems) == 1
    assert problems[0].startswith("malformed YAML at line 3")


def test_malformed_json_is_refused_with_its_position():
    assert refusal('{"apiVersion": "v3.0.2",')[0].startswith("malformed JSON at line 1")


def test_an_empty_document_is_refused():
    assert refusal("  \n") == ["the document is empty"]


def test_a_list_is_not_a_document():
    assert refusal("- a\n- b\n") == ["the document must be a mapping of ODCS fields, got list"]


def test_a_document_without_schema_is_refused_naming_the_field():
    text = "apiVersion: v3.0.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\n"
    assert refusal(text) == ["schema: is required"]


def test_a_document_with_an_empty_schema_is_refused():
    text = "apiVersion: v3.0.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nschema: []\n"
    assert refusal(text) == ["schema: must list at least one schema object"]


@pytest.mark.parametrize("field", ["apiVersion", "kind", "id", "version"])
def test_each_required_top_level_field_is_named_when_missing(field):
    text = "\n".join(line for line in document().splitlines() if not line.startswith(f"{field}:"))
    assert f"{field}: is required" in refusal(text)


def test_an_unknown_logical_type_is_refused_naming_the_property():
    problems = refusal(document(logical="datetime"))
    assert problems == [
        "schema[0].properties[0].logicalType: unknown logicalType 'datetime'; "
        "expected one of string, date, number, integer, object, array, boolean, timestamp, time"
    ]


def test_an_unsupported_api_version_is_refused():
    assert refusal(document(api="v2.2.0")) == [
        "apiVersion: 'v2.2.0' is not supported; use one of v3.0.0, v3.0.1, v3.0.2, v3.1.0"
    ]


def test_a_wrong_kind_is_refused():
    text = document().replace("kind: DataContract", "kind: DataProduct")
    assert refusal(text) == ["kind: must be 'DataContract', got 'DataProduct'"]


def test_a_field_unknown_to_odcs_is_refused_by_the_official_model():
    assert refusal(document(colour="blue")) == ["colour: is not an ODCS field"]


def test_a_wrongly_typed_field_is_refused_by_the_official_model():
    text = document().replace("status: active", "status: [active]")
    assert refusal(text) == ["status: input should be a valid string"]


def test_a_rule_with_two_operators_is_refused():
    problems = refusal(document(quality="- mustBe: 1\n  mustNotBe: 2"))
    assert problems == [
        "schema[0].properties[0].quality[0]: has several operators (mustBe, mustNotBe); a rule takes exactly one"
    ]


def test_a_numeric_operator_with_text_is_refused():
    problems = refusal(document(quality="- mustBeGreaterThan: abc"))
    assert problems == ["schema[0].properties[0].quality[0].mustBeGreaterThan: must be a number, got 'abc'"]


def test_a_range_in_the_wrong_order_is_refused():
    problems = refusal(document(quality="- mustBeBetween: [10, 1]"))
    assert problems == ["schema[0].properties[0].quality[0].mustBeBetween: the smaller bound comes first, got [10, 1]"]


def test_an_unknown_metric_is_refused():
    problems = refusal(document(api="v3.1.0", quality="- metric: nullCount\n  mustBe: 0"))
    assert problems[0].startswith("schema[0].properties[0].quality[0].metric: unknown metric 'nullCount'")


def test_an_invalid_regular_expression_is_refused():
    problems = refusal(document(logical="string", quality="- rule: regex\n  mustBe: '[a-'"))
    assert problems[0].startswith("schema[0].properties[0].quality[0].mustBe: invalid regular expression")


def test_a_sql_rule_without_a_query_is_refused():
    problems = refusal(document(quality="- type: sql\n  mustBe: 0"))
    assert problems == ["schema[0].properties[0].quality[0].query: is required for a sql rule"]


def test_duplicate_property_names_are_refused():
    text = document().replace(
        "    properties:\n", "    properties:\n      - name: amount\n        logicalType: integer\n", 1
    )
    assert "schema[0].properties[1].name: duplicate property name 'amount'" in refusal(text)


def test_every_problem_is_reported_at_once():
    text = document(logical="datetime", quality="- mustBe: 1\n  mustNotBe: 2").replace("kind: DataContract\n", "")
    problems = refusal(text)
    assert [p.split(":")[0] for p in problems] == [
        "kind",
        "schema[0].properties[0].logicalType",
        "schema[0].properties[0].quality[0]",
    ]


def test_the_fingerprint_ignores_key_order_and_formatting():
    parsed = odcs.parse(document())
    shuffled = dict(reversed(list(parsed.document.items())))
    assert odcs.fingerprint(shuffled) == parsed.fingerprint
    assert odcs.parse(json.dumps(shuffled, indent=4)).fingerprint == parsed.fingerprint


def test_the_fingerprint_changes_with_the_content():
    parsed = odcs.parse(document())
    changed = odcs.parse(document().replace("required: true", "required: false"))
    assert changed.fingerprint != parsed.fingerprint


def test_yaml_output_parses_back_to_the_same_document():
    parsed = odcs.parse(document())
    assert odcs.parse(odcs.to_yaml(parsed.document)).fingerprint == parsed.fingerprint


def test_dates_in_yaml_are_stored_as_text():
    parsed = odcs.parse(document(contractCreatedTs="2024-05-01"))
    assert parsed.document["contractCreatedTs"] == "2024-05-01"


def test_a_full_3_1_document_is_accepted_without_lint():
    text = textwrap.dedent(
        """\
        apiVersion: v3.1.0
        kind: DataContract
        id: shop.orders
        name: Orders
        version: 2.1.0
        status: active
        schema:
          - name: orders
            physicalType: table
            quality:
              - metric: rowCount
                mustBeGreaterThan: 0
              - metric: duplicateValues
                arguments:
                  properties: [order_id, line]
                mustBe: 0
            properties:
              - name: order_id
                logicalType: string
                required: true
                primaryKey: true
                logicalTypeOptions:
                  pattern: "^O-[0-9]+$"
              - name: line
                logicalType: integer
              - name: status
                logicalType: string
                quality:
                  - metric: invalidValues
                    arguments:
                      validValues: [new, paid, shipped]
                    mustBeLessOrEqualTo: 1
                    unit: percent
                    severity: error
        """
    )
    parsed = odcs.parse(text)
    assert parsed.api_version == "v3.1.0"
    assert parsed.lint == []
