"""The change classifier (contracts/diff.py), held to the rule table of docs/contracts.md pair by pair."""

import copy

import pytest

from contracts.demo import demo_contracts
from contracts.diff import diff_documents, required_bump, rule_key

BREAKING, NON_BREAKING, INFO = "breaking", "non-breaking", "info"


def base_30():
    """A v3.0.2 document in the v3.0 quality forms (`rule`, validValues beside it, dc43's operator-only items)."""
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "shop.orders",
        "version": "1.0.0",
        "status": "active",
        "description": {"purpose": "Orders."},
        "servers": [{"server": "prod", "type": "local", "path": "var/data/shop.orders", "format": "parquet"}],
        "slaProperties": [{"property": "latency", "value": 4, "unit": "h"}],
        "schema": [
            {
                "name": "orders",
                "properties": [
                    {"name": "order_id", "logicalType": "string", "physicalType": "string", "required": True},
                    {
                        "name": "amount",
                        "logicalType": "number",
                        "physicalType": "double",
                        "quality": [{"mustBeGreaterOrEqualTo": 0}],
                    },
                    {
                        "name": "qty",
                        "logicalType": "integer",
                        "physicalType": "int",
                        "logicalTypeOptions": {"minimum": 0, "maximum": 100},
                    },
                    {
                        "name": "currency",
                        "logicalType": "string",
                        "logicalTypeOptions": {"maxLength": 3},
                        "quality": [{"rule": "enum", "mustBe": ["EUR", "USD"], "severity": "error"}],
                    },
                    {
                        "name": "status",
                        "logicalType": "string",
                        "quality": [{"rule": "validValues", "validValues": ["new", "paid"], "mustBe": 0}],
                    },
                    {"name": "code", "logicalType": "string", "quality": [{"rule": "regex", "mustBe": "^[A-Z]+$"}]},
                    {"name": "ordered_on", "logicalType": "date", "physicalType": "date"},
                ],
                "quality": [{"rule": "rowCount", "mustBeGreaterThan": 0, "severity": "warning"}],
            }
        ],
    }


def base_31():
    """A v3.1.0 document with library metrics and arguments."""
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "shop.events",
        "version": "2.0.0",
        "status": "active",
        "schema": [
            {
                "name": "events",
                "properties": [
                    {"name": "id", "logicalType": "string", "required": True},
                    {
                        "name": "value",
                        "logicalType": "number",
                        "quality": [{"metric": "nullValues", "mustBeLessOrEqualTo": 5, "unit": "percent"}],
                    },
                    {
                        "name": "kind",
                        "logicalType": "string",
                        "quality": [
                            {
                                "metric": "invalidValues",
                                "arguments": {"validValues": ["a", "b"]},
                                "mustBe": 0,
                                "severity": "warning",
                            }
                        ],
                    },
                    {
                        "name": "email",
                        "logicalType": "string",
                        "quality": [
                            {"metric": "invalidValues", "arguments": {"pattern": "^.+@.+$"}, "mustBeLessThan": 10}
                        ],
                    },
                    {
                        "name": "note",
                        "logicalType": "string",
                        "quality": [
                            {"metric": "missingValues", "arguments": {"missingValues": [None, ""]}, "mustBe": 0}
                        ],
                    },
                    {"name": "at", "logicalType": "timestamp"},
                ],
                "quality": [
                    {"metric": "rowCount", "mustBeBetween": [10, 1000]},
                    {"metric": "duplicateValues", "arguments": {"properties": ["id"]}, "mustBe": 0},
                ],
            }
        ],
    }


def prop(doc, name):
    return next(p for p in doc["schema"][0]["properties"] if p["name"] == name)


def quality(doc, name=None):
    return prop(doc, name)["quality"][0] if name else doc["schema"][0]["quality"][0]


def _with(doc, change):
    change(doc)
    return doc


# Each case: id, the base, a change made to a copy of it, the path of the one change, its class, words it says.
# fmt: off
CASES = [
    ("30 column removed", base_30, lambda d: d["schema"][0]["properties"].pop(1), "properties.amount", BREAKING, "column removed"),
    ("30 column renamed", base_30, lambda d: prop(d, "qty").update(name="quantity"), "properties.qty", BREAKING, "removed"),
    ("30 optional column added", base_30, lambda d: d["schema"][0]["properties"].append({"name": "x", "logicalType": "string"}), "properties.x", NON_BREAKING, "optional column added"),
    ("31 required column added", base_31, lambda d: d["schema"][0]["properties"].append({"name": "y", "logicalType": "string", "required": True}), "properties.y", BREAKING, "required column added"),
    ("30 schema object removed", base_30, lambda d: d.update(schema=[]), "schema.orders", BREAKING, "schema object removed"),
    ("31 schema object added", base_31, lambda d: d["schema"].append({"name": "more", "properties": [{"name": "a"}]}), "schema.more", NON_BREAKING, "schema object added"),
    ("30 type narrowed number to integer", base_30, lambda d: prop(d, "amount").update(logicalType="integer"), "amount.logicalType", BREAKING, "type narrowed: number -> integer"),
    ("30 type widened integer to number", base_30, lambda d: prop(d, "qty").update(logicalType="number"), "qty.logicalType", NON_BREAKING, "type widened: integer -> number"),
    ("30 type widened date to timestamp", base_30, lambda d: prop(d, "ordered_on").update(logicalType="timestamp", physicalType="timestamp"), "ordered_on.logicalType", NON_BREAKING, "type widened"),
    ("31 severity raised info to warning", lambda: _with(base_31(), lambda d: quality(d, "kind").update(severity="info")), lambda d: quality(d, "kind").update(severity="warning"), "kind.quality.invalidValues.severity", NON_BREAKING, "severity raised: info -> warning"),
    ("31 type changed incompatibly", base_31, lambda d: prop(d, "kind").update(logicalType="integer"), "kind.logicalType", BREAKING, "incompatibly: string -> integer"),
    ("30 physical type widened int to bigint", base_30, lambda d: prop(d, "qty").update(physicalType="bigint"), "qty.physicalType", NON_BREAKING, "type widened: int -> bigint"),
    ("30 physical type narrowed double to float", base_30, lambda d: prop(d, "amount").update(physicalType="float"), "amount.physicalType", BREAKING, "type narrowed: double -> float"),
    ("30 required added", base_30, lambda d: prop(d, "amount").update(required=True), "amount.required", BREAKING, "required added"),
    ("31 required removed", base_31, lambda d: prop(d, "id").update(required=False), "id.required", NON_BREAKING, "required removed"),
    ("30 unique added", base_30, lambda d: prop(d, "order_id").update(unique=True), "order_id.unique", BREAKING, "unique added"),
    ("31 primaryKey added", base_31, lambda d: prop(d, "id").update(primaryKey=True), "id.primaryKey", BREAKING, "primaryKey added"),
    ("30 maxLength narrowed", base_30, lambda d: prop(d, "currency")["logicalTypeOptions"].update(maxLength=2), "logicalTypeOptions.maxLength", BREAKING, "maxLength narrowed: 3 -> 2"),
    ("30 maxLength widened", base_30, lambda d: prop(d, "currency")["logicalTypeOptions"].update(maxLength=5), "logicalTypeOptions.maxLength", NON_BREAKING, "maxLength widened"),
    ("30 minimum raised", base_30, lambda d: prop(d, "qty")["logicalTypeOptions"].update(minimum=1), "logicalTypeOptions.minimum", BREAKING, "minimum narrowed: 0 -> 1"),
    ("30 maximum lowered", base_30, lambda d: prop(d, "qty")["logicalTypeOptions"].update(maximum=50), "logicalTypeOptions.maximum", BREAKING, "maximum narrowed"),
    ("30 maximum removed", base_30, lambda d: prop(d, "qty")["logicalTypeOptions"].pop("maximum"), "logicalTypeOptions.maximum", NON_BREAKING, "maximum removed"),
    ("31 format added", base_31, lambda d: prop(d, "email").update(logicalTypeOptions={"format": "email"}), "logicalTypeOptions.format", BREAKING, "format added"),
    ("30 exclusiveMaximum made true", base_30, lambda d: prop(d, "qty")["logicalTypeOptions"].update(exclusiveMaximum=True), "logicalTypeOptions.exclusiveMaximum", BREAKING, "exclusiveMaximum"),
    ("31 pattern option changed", base_31, lambda d: prop(d, "id").update(logicalTypeOptions={"pattern": "^E"}), "logicalTypeOptions.pattern", BREAKING, "pattern added"),
    ("30 rule added without severity (error)", base_30, lambda d: prop(d, "qty").update(quality=[{"mustBeLessThan": 1000}]), "qty.quality.value", BREAKING, "rule added with severity error"),
    ("31 rule added with severity warning", base_31, lambda d: prop(d, "at").update(quality=[{"metric": "nullValues", "mustBe": 0, "severity": "warning"}]), "at.quality.nullValues", NON_BREAKING, "rule added with severity warning"),
    ("30 rule removed", base_30, lambda d: prop(d, "code").pop("quality"), "code.quality.regex", NON_BREAKING, "rule removed"),
    ("31 table rule removed", base_31, lambda d: d["schema"][0]["quality"].pop(0), "events.quality.rowCount", NON_BREAKING, "rule removed"),
    ("30 text rule added", base_30, lambda d: prop(d, "qty").update(quality=[{"type": "text", "description": "be nice"}]), "qty.quality.text", INFO, "text rule added"),
    ("30 threshold tightened ge to gt", base_30, lambda d: (quality(d, "amount").update({"mustBeGreaterThan": 0}) or quality(d, "amount").pop("mustBeGreaterOrEqualTo")), "amount.quality.value.mustBeGreaterThan", BREAKING, "threshold tightened"),
    ("30 threshold raised", base_30, lambda d: quality(d, "amount").update(mustBeGreaterOrEqualTo=1), "amount.quality.value", BREAKING, "tightened: mustBeGreaterOrEqualTo 0 -> mustBeGreaterOrEqualTo 1"),
    ("30 threshold lowered (relaxed)", base_30, lambda d: quality(d, "amount").update(mustBeGreaterOrEqualTo=-1), "amount.quality.value", NON_BREAKING, "threshold relaxed"),
    ("30 table rowCount operator made stricter", base_30, lambda d: quality(d).update(mustBeGreaterThan=10), "orders.quality.rowCount", BREAKING, "threshold tightened"),
    ("31 percent limit lowered", base_31, lambda d: quality(d, "value").update(mustBeLessOrEqualTo=1), "value.quality.nullValues", BREAKING, "threshold tightened"),
    ("31 percent limit raised", base_31, lambda d: quality(d, "value").update(mustBeLessOrEqualTo=10), "value.quality.nullValues", NON_BREAKING, "threshold relaxed"),
    ("31 row limit lowered", base_31, lambda d: quality(d, "email").update(mustBeLessThan=5), "email.quality.invalidValues", BREAKING, "mustBeLessThan 10 -> mustBeLessThan 5"),
    ("31 between bounds narrowed", base_31, lambda d: quality(d).update(mustBeBetween=[10, 500]), "events.quality.rowCount", BREAKING, "threshold tightened"),
    ("31 between bounds widened", base_31, lambda d: quality(d).update(mustBeBetween=[1, 5000]), "events.quality.rowCount", NON_BREAKING, "threshold relaxed"),
    ("31 between bounds shifted", base_31, lambda d: quality(d).update(mustBeBetween=[100, 5000]), "events.quality.rowCount", BREAKING, "threshold changed"),
    ("31 between to greater-or-equal", base_31, lambda d: quality(d).pop("mustBeBetween") and quality(d).update(mustBeGreaterOrEqualTo=10), "events.quality.rowCount", NON_BREAKING, "threshold relaxed"),
    ("31 threshold removed", base_31, lambda d: quality(d, "email").pop("mustBeLessThan"), "email.quality.invalidValues", NON_BREAKING, "threshold removed"),
    ("31 unit changed rows to percent", base_31, lambda d: quality(d, "email").update(unit="percent"), "email.quality.invalidValues.unit", BREAKING, "unit changed: rows -> percent"),
    ("30 enum narrowed", base_30, lambda d: quality(d, "currency").update(mustBe=["EUR"]), "currency.quality.enum", BREAKING, "enum narrowed: removed USD"),
    ("30 enum widened", base_30, lambda d: quality(d, "currency").update(mustBe=["EUR", "USD", "GBP"]), "currency.quality.enum", NON_BREAKING, "enum widened: added GBP"),
    ("30 validValues narrowed", base_30, lambda d: quality(d, "status").update(validValues=["new"]), "status.quality.validValues.arguments.validValues", BREAKING, "enum narrowed"),
    ("31 validValues widened", base_31, lambda d: quality(d, "kind")["arguments"].update(validValues=["a", "b", "c"]), "kind.quality.invalidValues.arguments.validValues", NON_BREAKING, "enum widened"),
    ("31 validValues swapped", base_31, lambda d: quality(d, "kind")["arguments"].update(validValues=["a", "c"]), "kind.quality.invalidValues.arguments.validValues", BREAKING, "enum changed"),
    ("31 missingValues widened", base_31, lambda d: quality(d, "note")["arguments"].update(missingValues=[None, "", "N/A"]), "note.quality.missingValues.arguments.missingValues", BREAKING, "enum widened"),
    ("30 regex pattern changed", base_30, lambda d: quality(d, "code").update(mustBe="^[A-Z]{2}$"), "code.quality.regex", BREAKING, "pattern changed"),
    ("31 pattern argument changed", base_31, lambda d: quality(d, "email")["arguments"].update(pattern="^.+@.+\\..+$"), "email.quality.invalidValues.arguments.pattern", BREAKING, "pattern changed"),
    ("31 duplicate key changed", base_31, lambda d: d["schema"][0]["quality"][1]["arguments"].update(properties=["id", "at"]), "events.quality.duplicateValues.arguments.properties", BREAKING, "properties changed"),
    ("31 severity raised to error", base_31, lambda d: quality(d, "kind").update(severity="error"), "kind.quality.invalidValues.severity", BREAKING, "severity raised: warning -> error"),
    ("30 severity lowered", base_30, lambda d: quality(d, "currency").update(severity="warning"), "currency.quality.enum.severity", NON_BREAKING, "severity lowered: error -> warning"),
    ("31 severity lowered warning to info", base_31, lambda d: quality(d, "kind").update(severity="info"), "kind.quality.invalidValues.severity", NON_BREAKING, "severity lowered"),
    ("30 SLA tightened", base_30, lambda d: d["slaProperties"][0].update(value=2), "slaProperties.latency", BREAKING, "SLA tightened: 4 h -> 2 h"),
    ("30 SLA relaxed across units", base_30, lambda d: d["slaProperties"][0].update(value=1, unit="d"), "slaProperties.latency", NON_BREAKING, "SLA relaxed"),
    ("30 retention SLA added", base_30, lambda d: d["slaProperties"].append({"property": "retention", "value": 1, "unit": "y"}), "slaProperties.retention", BREAKING, "SLA added"),
    ("30 server moved", base_30, lambda d: d["servers"][0].update(path="s3a://bucket/orders"), "servers.prod.path", BREAKING, "server moved"),
    ("30 server removed", base_30, lambda d: d.update(servers=[]), "servers.prod", BREAKING, "server removed"),
    ("30 server added", base_30, lambda d: d["servers"].append({"server": "dr", "type": "local", "path": "/dr"}), "servers.dr", NON_BREAKING, "server added"),
    ("30 description changed", base_30, lambda d: d["description"].update(purpose="Orders, all of them."), "description", INFO, "description changed"),
    ("30 column description added", base_30, lambda d: prop(d, "qty").update(description="How many."), "qty.description", INFO, "description"),
    ("31 tags added", base_31, lambda d: prop(d, "id").update(tags=["pii"]), "id.tags", INFO, "tags"),
    ("31 authoritative definitions added", base_31, lambda d: d.update(authoritativeDefinitions=[{"url": "https://x.example", "type": "businessDefinition"}]), "authoritativeDefinitions", INFO, "authoritativeDefinitions"),
    ("31 custom properties changed", base_31, lambda d: d.update(customProperties=[{"property": "owner", "value": "ops"}]), "customProperties", INFO, "customProperties"),
    ("31 rule description changed", base_31, lambda d: quality(d, "kind").update(description="why"), "kind.quality.invalidValues.description", INFO, "description changed"),
    ("30 rule dimension changed", base_30, lambda d: quality(d, "currency").update(dimension="conformity"), "currency.quality.enum.dimension", INFO, "dimension"),
]
# fmt: on


@pytest.mark.parametrize(("base", "change", "path", "cls", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_change_is_classified_as_the_rule_table_says(base, change, path, cls, words):
    old = base()
    new = copy.deepcopy(old)
    change(new)
    changes = diff_documents(old, new).changes
    matching = [c for c in changes if c.path.endswith(path) or path in c.path]
    assert matching, f"no change at {path}: {changes}"
    assert [c.cls for c in matching] == [cls] * len(matching), changes
    assert any(words in c.change for c in matching), changes


def test_there_are_at_least_forty_pairs_across_3_0_and_3_1():
    assert len(CASES) >= 40
    api_versions = [c[1]()["apiVersion"] for c in CASES]
    assert api_versions.count("v3.0.2") >= 15 and api_versions.count("v3.1.0") >= 15


def test_identical_documents_need_no_bump():
    diff = diff_documents(base_31(), base_31())
    assert diff.changes == []
    assert diff.required_bump == "none"


def test_the_required_bump_is_the_worst_class():
    old, new = base_30(), base_30()
    new["description"]["purpose"] = "changed"
    assert diff_documents(old, new).required_bump == "patch"
    prop(new, "qty")["logicalType"] = "number"
    assert diff_documents(old, new).required_bump == "minor"
    prop(new, "amount")["required"] = True
    assert diff_documents(old, new).required_bump == "major"
    assert required_bump([]) == "none"


def test_the_json_shape_is_the_issues():
    old, new = base_30(), base_30()
    new["version"] = "2.0.0"
    prop(new, "amount")["logicalType"] = "integer"
    assert diff_documents(old, new).as_dict() == {
        "contract": "shop.orders",
        "from": "1.0.0",
        "to": "2.0.0",
        "changes": [
            {
                "path": "schema.orders.properties.amount.logicalType",
                "change": "type narrowed: number -> integer",
                "class": "breaking",
            }
        ],
        "required_bump": "major",
    }


def test_rules_are_matched_by_name_then_metric_then_rule_and_numbered_when_repeated():
    assert rule_key({"name": "positive", "metric": "invalidValues"}) == "positive"
    assert rule_key({"metric": "nullValues"}) == "nullValues"
    assert rule_key({"rule": "enum", "mustBe": []}) == "enum"
    assert rule_key({"mustBeGreaterThan": 0}) == "value"
    assert rule_key({"type": "sql", "query": "select 1"}) == "sql"
    old, new = base_31(), base_31()
    prop(new, "value")["quality"].insert(0, {"metric": "nullValues", "mustBe": 0, "severity": "info"})
    keys = [c.path for c in diff_documents(old, new).changes]
    # The first nullValues rule keeps its key; inserting one before it compares by order of appearance.
    assert any(path.endswith("quality.nullValues#2") for path in keys)


def test_the_demo_documents_are_both_ends_of_a_valid_diff():
    for parsed in demo_contracts():
        assert diff_documents(parsed.document, parsed.document).required_bump == "none"
