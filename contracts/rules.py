"""ODCS contracts compiled to columns and rules, as plain frozen data.

Nothing here knows Spark: `pipelines.checks` turns each `Rule` into Spark expressions.
What each rule kind means is written down in docs/semantics.md; the tests hold both to it.
One module on purpose: the ODCS quality forms (v3.0 `rule`, v3.1 `metric`, dc43's looser style)
all funnel into the same few Rule kinds here, and that mapping reads best in one place.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field, replace

from contracts.odcs import OPERATORS
from contracts.sla import KIND as SLA_KIND
from contracts.sla import parse_slas
from contracts.values import is_number

# A rule judged row by row marks the rows that break it (they can be quarantined);
# a metric rule compares one number per batch with its operator.
ROW, METRIC, SKIPPED = "row", "metric", "skipped"
# Rules that hold for each row on its own: one offending row breaks them.
PREDICATE_KINDS = {"not_null", "compare", "in_set", "not_in_set", "pattern", "length", "size", "multiple_of"}

SEVERITY_ALIASES = {
    "info": "info",
    "information": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "critical": "error",
    "fatal": "error",
    "blocker": "error",
}


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: str | None = None
    physical_type: str | None = None
    required: bool = False

    @property
    def expected_type(self):
        return self.physical_type or self.logical_type or ""


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    level: str
    column: str | None = None
    columns: tuple = ()
    operator: str | None = None
    threshold: object = None
    unit: str = "rows"
    severity: str = "error"
    params: dict = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    source: str = ""
    note: str = ""


@dataclass
class CompiledContract:
    contract_id: str
    version: str
    object_name: str
    columns: list
    rules: list
    closed: bool = False

    @property
    def row_rules(self):
        return [r for r in self.rules if r.level == ROW]

    @property
    def column_names(self):
        return [c.name for c in self.columns]

    def rule(self, name):
        return next(r for r in self.rules if r.name == name)


# --- compiling -----------------------------------------------------------------------------------


def compile_contract(document, object_name=None):
    """Turn an (already validated) ODCS document into columns and rules for one schema object."""
    objects = document.get("schema") or []
    if not objects:
        raise ValueError("the contract has no schema object to check against")
    if object_name:
        matches = [o for o in objects if o.get("name") == object_name]
        if not matches:
            raise ValueError(f"the contract has no schema object named {object_name!r}")
        obj, index = matches[0], objects.index(matches[0])
    else:
        obj, index = objects[0], 0
    where = f"schema[{index}]"
    columns, rules = [], _RuleList()
    for j, prop in enumerate(obj.get("properties") or []):
        name = prop["name"]
        pwhere = f"{where}.properties[{j}]"
        columns.append(
            Column(
                name=name,
                logical_type=prop.get("logicalType"),
                physical_type=prop.get("physicalType"),
                required=bool(prop.get("required")),
            )
        )
        if prop.get("required"):
            rules.add(
                Rule(
                    name=f"{name}.required",
                    kind="not_null",
                    level=ROW,
                    column=name,
                    source=f"{pwhere}.required",
                    description=f"{name} must not be null",
                )
            )
        if prop.get("unique") or prop.get("primaryKey") and _single_primary_key(obj):
            rules.add(
                Rule(
                    name=f"{name}.unique",
                    kind="duplicate_values",
                    level=METRIC,
                    column=name,
                    columns=(name,),
                    operator="mustBe",
                    threshold=0,
                    source=f"{pwhere}.unique",
                    description=f"{name} values must be unique within a batch",
                )
            )
        for rule in _type_option_rules(name, prop.get("logicalTypeOptions") or {}, pwhere):
            rules.add(rule)
        for k, item in enumerate(prop.get("quality") or []):
            rules.add(_quality_rule(item, name, f"{pwhere}.quality[{k}]", obj.get("name")))
    for k, item in enumerate(obj.get("quality") or []):
        rules.add(_quality_rule(item, None, f"{where}.quality[{k}]", obj.get("name")))
    for sla in parse_slas(document):
        rules.add(sla_rule(sla))
    return CompiledContract(
        contract_id=document.get("id", ""),
        version=str(document.get("version", "")),
        object_name=obj.get("name") or "",
        columns=columns,
        rules=rules.items,
        closed=_is_closed(obj),
    )


class _RuleList:
    """Keeps rule names unique: they are the words a quarantined row carries."""

    def __init__(self):
        self.items = []
        self.names = set()

    def add(self, rule):
        name, n = rule.name, 2
        while name in self.names:
            name, n = f"{rule.name}#{n}", n + 1
        if name != rule.name:
            rule = replace(rule, name=name)
        self.names.add(name)
        self.items.append(rule)


def sla_rule(sla):
    """An SLA as a metric rule: the batch's measured duration must not exceed the SLA's value, in its unit."""
    return Rule(
        name=sla.name,
        kind=SLA_KIND,
        level=SKIPPED if sla.problem else METRIC,
        column=sla.column,
        operator="mustBeLessOrEqualTo",
        threshold=sla.value,
        unit=sla.unit,
        severity=sla.severity,
        params={"property": sla.property},
        description=f"{sla.property} at most {sla.value:g} {sla.unit}" + (f" ({sla.driver})" if sla.driver else ""),
        source=sla.source,
        note=sla.problem,
    )


def _single_primary_key(obj):
    return sum(1 for p in obj.get("properties") or [] if p.get("primaryKey")) == 1


def _is_closed(obj):
    """A schema object is closed (extra columns block) when a custom property says so."""
    for prop in obj.get("customProperties") or []:
        if prop.get("property") in ("closed", "schemaClosed") and prop.get("value") in (True, "true", "yes"):
            return True
        if prop.get("property") == "additionalProperties" and prop.get("value") in (False, "false", "no"):
            return True
    return False


def normalise_severity(value):
    if value in (None, ""):
        return "error", ""
    key = str(value).strip().lower()
    if key in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[key], ""
    return "error", f"unknown severity {value!r} treated as error"


def _operator_of(item):
    for op in OPERATORS:
        if op in item:
            return op, item[op]
    return None, None


# (bound, operator when inclusive, operator when strict, the option that makes it strict)
BOUNDS = (
    ("minimum", "mustBeGreaterOrEqualTo", "mustBeGreaterThan", "exclusiveMinimum"),
    ("maximum", "mustBeLessOrEqualTo", "mustBeLessThan", "exclusiveMaximum"),
)
SIZES = (
    ("minLength", "length", "mustBeGreaterOrEqualTo"),
    ("maxLength", "length", "mustBeLessOrEqualTo"),
    ("minItems", "size", "mustBeGreaterOrEqualTo"),
    ("maxItems", "size", "mustBeLessOrEqualTo"),
)


def _type_option_rules(name, options, where):
    def rule(key, kind, operator=None, threshold=None, **params):
        return Rule(
            name=f"{name}.{key}",
            kind=kind,
            level=ROW,
            column=name,
            operator=operator,
            threshold=threshold,
            params=params,
            source=f"{where}.logicalTypeOptions.{key}",
        )

    for bound, inclusive, strict, flag in BOUNDS:
        # v3.0.x spells exclusivity as a boolean next to the bound; newer drafts give the strict bound itself.
        exclusive = options.get(flag)
        if options.get(bound) is not None:
            yield rule(bound, "compare", strict if exclusive is True else inclusive, options[bound])
        if is_number(exclusive):
            yield rule(flag, "compare", strict, exclusive)
    for key, kind, operator in SIZES:
        if options.get(key) is not None:
            yield rule(key, kind, operator, options[key])
    if options.get("multipleOf") is not None:
        yield rule("multipleOf", "multiple_of", threshold=options["multipleOf"])
    if options.get("pattern") is not None:
        yield rule("pattern", "pattern", pattern=options["pattern"])


def _quality_rule(item, column, where, object_name):
    kind = item.get("type", "library")
    severity, severity_note = normalise_severity(item.get("severity"))
    op, threshold = _operator_of(item)
    unit = str(item.get("unit") or "rows").lower()
    label = item.get("name") or item.get("id")
    base = {
        "severity": severity,
        "description": item.get("description", ""),
        "source": where,
        "operator": op,
        "threshold": threshold,
        "note": severity_note,
    }
    prefix = column or object_name or "table"

    def skipped(name, note):
        return Rule(
            name=label or name,
            kind=kind,
            level=SKIPPED,
            column=column,
            source=where,
            severity=severity,
            description=item.get("description", ""),
            note=note,
        )

    if kind == "text":
        return skipped(f"{prefix}.text", "text rules are prose for people, never executed")
    if kind == "custom":
        engine = item.get("engine") or "an unnamed engine"
        return skipped(f"{prefix}.custom", f"custom rule for {engine}: dc43 cannot run it")
    if kind == "sql":
        return Rule(
            name=label or f"{prefix}.sql",
            kind="sql",
            level=METRIC,
            column=column,
            params={"query": item.get("query", "")},
            unit=unit,
            **base,
        )
    if unit not in ("rows", "percent"):
        return skipped(
            label or f"{prefix}.{item.get('metric') or item.get('rule') or 'rule'}",
            f"unit {unit!r} is not rows or percent",
        )

    metric = item.get("metric")
    rule = item.get("rule")
    arguments = item.get("arguments") if isinstance(item.get("arguments"), dict) else {}
    legacy = (rule or "").strip()
    lower = legacy.lower()

    if (
        metric is None
        and lower in ("enum", "validvalues", "valid_values", "accepted_values")
        and isinstance(threshold, list)
    ):
        # dc43 style: `rule: enum` with the allowed values as the `mustBe` list.
        return Rule(
            name=label or f"{prefix}.{legacy or 'enum'}",
            kind="in_set",
            level=ROW,
            column=column,
            params={"values": threshold},
            **{**base, "operator": None, "threshold": None},
        )
    if metric is None and lower in ("regex", "pattern", "matches") and isinstance(threshold, str):
        return Rule(
            name=label or f"{prefix}.{legacy}",
            kind="pattern",
            level=ROW,
            column=column,
            params={"pattern": threshold},
            **{**base, "operator": None, "threshold": None},
        )
    if metric is None and lower in ("validvalues", "valid_values") and isinstance(item.get("validValues"), list):
        metric, arguments = "invalidValues", {**arguments, "validValues": item["validValues"]}
    if metric is None and lower in ("duplicatecount", "duplicate_count", "duplicatevalues", "unique"):
        metric = "duplicateValues"
    if metric is None and lower in ("rowcount", "row_count"):
        metric = "rowCount"
    if metric is None and lower in ("nullvalues", "nullcount", "null_count", "notnull", "not_null"):
        metric = "nullValues"
    if metric is None and lower in ("missingvalues", "missing_values"):
        metric = "missingValues"
    if metric is None and lower in ("invalidvalues", "invalid_values"):
        metric = "invalidValues"
    if metric is None and legacy:
        return skipped(label or f"{prefix}.{legacy}", f"rule {legacy!r} is not one dc43 knows how to run")

    if metric is None:
        # dc43 style: an operator alone on a property means every non-null value must satisfy it.
        if column is None:
            return skipped(label or f"{prefix}.rule", "an operator without a metric needs a column")
        if op is None:
            return skipped(label or f"{prefix}.rule", "no operator to check")
        if isinstance(threshold, list) and op in ("mustBe", "mustNotBe"):
            kind_ = "in_set" if op == "mustBe" else "not_in_set"
            return Rule(
                name=label or f"{prefix}.{op}",
                kind=kind_,
                level=ROW,
                column=column,
                params={"values": threshold},
                **{**base, "operator": None, "threshold": None},
            )
        return Rule(name=label or f"{prefix}.{op}", kind="compare", level=ROW, column=column, **base)

    return _metric_rule(metric, item, column, arguments, unit, label, prefix, base, skipped)


def _metric_rule(metric, item, column, arguments, unit, label, prefix, base, skipped):
    if base["operator"] is None:
        if metric == "rowCount":
            return skipped(label or f"{prefix}.rowCount", "rowCount needs an operator")
        # A count of bad values without a bound is read as "there must be none".
        base = {**base, "operator": "mustBe", "threshold": 0}
    name = label or f"{prefix}.{metric}"
    if metric == "rowCount":
        if column is not None:
            return skipped(name, "rowCount is a table-level metric")
        if unit == "percent":
            return skipped(name, "rowCount has no percent form")
        return Rule(name=name, kind="row_count", level=METRIC, unit=unit, **base)
    if metric == "duplicateValues":
        columns = tuple(arguments.get("properties") or ([column] if column else []))
        if not columns:
            return skipped(name, "duplicateValues at table level needs arguments.properties")
        return Rule(name=name, kind="duplicate_values", level=METRIC, column=column, columns=columns, unit=unit, **base)
    if column is None:
        return skipped(name, f"{metric} is a column-level metric")
    params = {}
    if metric == "missingValues":
        params["values"] = [v for v in arguments.get("missingValues") or [] if v is not None]
    if metric == "invalidValues":
        if arguments.get("validValues") is None and arguments.get("pattern") is None:
            return skipped(name, "invalidValues needs arguments.validValues and/or arguments.pattern")
        params = {"values": arguments.get("validValues"), "pattern": arguments.get("pattern")}
    kind = {"nullValues": "null_values", "missingValues": "missing_values", "invalidValues": "invalid_values"}[metric]
    level = ROW if zero_tolerance(base["operator"], base["threshold"], unit) else METRIC
    return Rule(name=name, kind=kind, level=level, column=column, unit=unit, params=params, **base)


# --- naming across versions ---------------------------------------------------------------------

# What a rule checks: two rules that agree on these check the same thing, whatever their name,
# severity, description or place in the document.
DEFINITION_FIELDS = ("kind", "column", "columns", "operator", "threshold", "unit", "params")


def rule_key(rule):
    """A rule's name across contract versions: `<column or table>.<kind>.<10 hex digits>`.

    The digits are the start of the sha256 of the rule's definition (`DEFINITION_FIELDS`, as
    sorted JSON), so an unchanged rule keeps its key from one version to the next and a changed
    threshold or column makes a new one. A skipped rule checks nothing: its name and note stand
    for it. Stored rule results are keyed by it: never change how it is computed.
    """
    if rule.level == SKIPPED:
        definition = {"kind": rule.kind, "column": rule.column, "name": rule.name, "note": rule.note}
    else:
        definition = {name: getattr(rule, name) for name in DEFINITION_FIELDS}
        definition["columns"] = list(definition["columns"])
    text = json.dumps(definition, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    subject = re.sub(r"[^A-Za-z0-9_.-]", "_", rule.column or "table")
    return f"{subject}.{rule.kind}.{digest}"


def rule_keys(rules):
    """The key of each rule; a rule that repeats an earlier one's definition gets `.2`, `.3`... after it."""
    keys, seen = [], set()
    for rule in rules:
        key, base, n = rule_key(rule), rule_key(rule), 2
        while key in seen:
            key, n = f"{base}.{n}", n + 1
        seen.add(key)
        keys.append(key)
    return keys


# --- comparing ----------------------------------------------------------------------------------


def accepts(operator, threshold, value):
    """Does `value` satisfy `operator threshold`? Between is inclusive of both bounds."""
    if value is None:
        return False
    if operator == "mustBe":
        return value == threshold
    if operator == "mustNotBe":
        return value != threshold
    if operator == "mustBeGreaterThan":
        return value > threshold
    if operator == "mustBeGreaterOrEqualTo":
        return value >= threshold
    if operator == "mustBeLessThan":
        return value < threshold
    if operator == "mustBeLessOrEqualTo":
        return value <= threshold
    if operator == "mustBeBetween":
        return threshold[0] <= value <= threshold[1]
    if operator == "mustNotBeBetween":
        return not threshold[0] <= value <= threshold[1]
    raise ValueError(f"unknown operator {operator!r}")


def zero_tolerance(operator, threshold, unit):
    """True when one offending row alone breaks the rule: then that row can be quarantined."""
    smallest = 1 if unit == "rows" else 1e-9
    try:
        return accepts(operator, threshold, 0) and not accepts(operator, threshold, smallest)
    except (TypeError, IndexError):
        return False
