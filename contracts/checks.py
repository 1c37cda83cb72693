"""ODCS contracts compiled to checks, as plain data, and verdicts computed from measurements.

Nothing here knows Spark: `pipelines.checks` turns each `Rule` into Spark
expressions and hands the measured counts back to `judge`. The meaning of
every rule kind is written down in docs/semantics.md; the tests hold both to it.
"""

import math
import re
from dataclasses import asdict, dataclass, field

from contracts.odcs import OPERATORS

OK, WARN, BLOCK = "ok", "warn", "block"
VERDICT_ORDER = {OK: 0, WARN: 1, BLOCK: 2}
OBSERVE, ENFORCE = "observe", "enforce"

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

# Engine type names that mean the same thing, mapped to Spark's simpleString spelling.
TYPE_SYNONYMS = {
    "long": "bigint",
    "int64": "bigint",
    "bigint": "bigint",
    "integer64": "bigint",
    "int": "int",
    "integer": "int",
    "int32": "int",
    "int4": "int",
    "short": "smallint",
    "smallint": "smallint",
    "int16": "smallint",
    "int2": "smallint",
    "byte": "tinyint",
    "tinyint": "tinyint",
    "int8": "tinyint",
    "string": "string",
    "varchar": "string",
    "char": "string",
    "text": "string",
    "str": "string",
    "nvarchar": "string",
    "character varying": "string",
    "double": "double",
    "float8": "double",
    "double precision": "double",
    "float64": "double",
    "float": "float",
    "real": "float",
    "float4": "float",
    "float32": "float",
    "boolean": "boolean",
    "bool": "boolean",
    "timestamp": "timestamp",
    "timestamp_ltz": "timestamp",
    "timestamptz": "timestamp",
    "datetime": "timestamp",
    "timestamp with time zone": "timestamp",
    "timestamp_ntz": "timestamp_ntz",
    "timestamp without time zone": "timestamp_ntz",
    "date": "date",
    "binary": "binary",
    "bytes": "binary",
    "varbinary": "binary",
    "bytea": "binary",
    "decimal": "decimal",
    "numeric": "decimal",
    "number": "decimal",
    "time": "time",
}
INTEGER_TYPES = {"tinyint", "smallint", "int", "bigint"}
# Which engine types satisfy a logical type when the contract names no physical type.
LOGICAL_ACCEPTS = {
    "string": lambda t: t == "string",
    "integer": lambda t: t in INTEGER_TYPES,
    "number": lambda t: t in INTEGER_TYPES or t in {"float", "double"} or t.startswith("decimal"),
    "boolean": lambda t: t == "boolean",
    "date": lambda t: t == "date",
    "timestamp": lambda t: t in {"timestamp", "timestamp_ntz"},
    "time": lambda t: t == "time" or t.startswith("time("),
    "array": lambda t: t.startswith("array<"),
    "object": lambda t: t.startswith(("struct<", "map<")),
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

    def describe(self):
        if self.level == SKIPPED:
            return f"{self.name}: skipped ({self.note})"
        condition = f"{self.operator} {self.threshold}" if self.operator else ""
        return f"{self.name} {condition}".strip()


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
    def metric_rules(self):
        return [r for r in self.rules if r.level == METRIC]

    @property
    def column_names(self):
        return [c.name for c in self.columns]

    def rule(self, name):
        return next(r for r in self.rules if r.name == name)


class UnsupportedRule(ValueError):
    pass


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
            rule = Rule(**{**asdict(rule), "name": name})
        self.names.add(name)
        self.items.append(rule)


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
        if _is_number(exclusive):
            yield rule(flag, "compare", strict, exclusive)
    for key, kind, operator in SIZES:
        if options.get(key) is not None:
            yield rule(key, kind, operator, options[key])
    if options.get("multipleOf") is not None:
        yield rule("multipleOf", "multiple_of", threshold=options["multipleOf"])
    if options.get("pattern") is not None:
        yield rule("pattern", "pattern", pattern=options["pattern"])


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


# --- the schema gate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    column: str
    expected: str
    found: str
    verdict: str
    problem: str

    def as_dict(self):
        return asdict(self)


def normalise_type(type_name):
    """Spell an engine type the way Spark's simpleString does (bigint, int, string, array<string>...)."""
    text = re.sub(r"\s+", " ", str(type_name or "").strip().lower())
    if not text:
        return ""
    for head in ("array", "map", "struct"):
        if text.startswith(head + "<") and text.endswith(">"):
            inner = _split_top(text[len(head) + 1 : -1])
            if head == "struct":
                parts = []
                for part in inner:
                    fname, _, ftype = part.partition(":")
                    parts.append(f"{fname.strip()}:{normalise_type(ftype)}")
                return f"struct<{','.join(parts)}>"
            return f"{head}<{','.join(normalise_type(p) for p in inner)}>"
    match = re.match(r"^(decimal|numeric|number)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$", text)
    if match:
        return f"decimal({match.group(2)},{match.group(3) or 0})"
    base = re.sub(r"\(.*\)$", "", text).strip()  # varchar(20) -> varchar
    return TYPE_SYNONYMS.get(base, base)


def _split_top(text):
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def type_matches(column, found_type):
    found = normalise_type(found_type)
    if column.physical_type:
        expected = normalise_type(column.physical_type)
        if expected == "decimal":
            return found.startswith("decimal")
        return expected == found
    if column.logical_type:
        check = LOGICAL_ACCEPTS.get(column.logical_type)
        return check(found) if check else True
    return True


def compare_schema(fields, compiled):
    """Differences between a DataFrame's columns [(name, type, nullable)] and the contract's schema object."""
    found = {name: type_name for name, type_name, *_ in fields}
    differences = []
    for column in compiled.columns:
        if column.name not in found:
            if column.required:
                differences.append(
                    Difference(column.name, column.expected_type, "missing", BLOCK, "required column is missing")
                )
            else:
                differences.append(
                    Difference(column.name, column.expected_type, "missing", WARN, "optional column is missing")
                )
        elif not type_matches(column, found[column.name]):
            differences.append(
                Difference(
                    column.name, column.expected_type, found[column.name], BLOCK, "type does not match the contract"
                )
            )
    declared = set(compiled.column_names)
    for name, type_name, *_ in fields:
        if name not in declared:
            verdict = BLOCK if compiled.closed else WARN
            problem = (
                "column not in the contract (the schema is closed)" if compiled.closed else "column not in the contract"
            )
            differences.append(Difference(name, "absent", type_name, verdict, problem))
    return differences


def worst(verdicts):
    return max(verdicts, key=VERDICT_ORDER.__getitem__, default=OK)


# --- verdicts ---------------------------------------------------------------------------------------


@dataclass
class RuleResult:
    rule: str
    column: str | None
    kind: str
    level: str
    failed: int
    value: float | int | None
    passed: bool
    verdict: str
    severity: str
    skipped: bool = False
    note: str = ""

    def as_dict(self):
        return asdict(self)


@dataclass
class BatchVerdict:
    row_count: int
    violations: int
    verdict: str
    results: list
    run_type: str = ENFORCE

    @property
    def reasons(self):
        """Quarantine reasons with the rows that carry each: the row-level rules that failed."""
        return {r.rule: r.failed for r in self.results if r.level == ROW and r.failed}

    @property
    def skipped(self):
        return [r for r in self.results if r.skipped]

    @property
    def failed_rules(self):
        return [r for r in self.results if not r.passed and not r.skipped]

    def as_dict(self):
        return {
            "rows": self.row_count,
            "violations": self.violations,
            "verdict": self.verdict,
            "run_type": self.run_type,
            "rules": [r.as_dict() for r in self.results],
            "reasons": self.reasons,
        }


def rule_verdict(rule, passed, run_type):
    if passed:
        return OK
    if run_type == ENFORCE and rule.severity == "error":
        return BLOCK
    return WARN


def judge(compiled, measured, run_type=ENFORCE):
    """Turn measurements into a verdict.

    `measured` holds `rows` (rows in the batch), `violations` (rows breaking at least one
    row-level rule), and per rule name the offending-row count (row and count metrics)
    or the measured value (rowCount, sql). A missing or null count means zero: an empty
    micro-batch breaks nothing.
    """
    rows = int(measured.get("rows") or 0)
    results = []
    for rule in compiled.rules:
        if rule.level == SKIPPED:
            results.append(
                RuleResult(
                    rule.name,
                    rule.column,
                    rule.kind,
                    rule.level,
                    0,
                    None,
                    True,
                    OK,
                    rule.severity,
                    skipped=True,
                    note=rule.note,
                )
            )
            continue
        raw = measured.get(rule.name)
        if isinstance(raw, dict) and "error" in raw:
            results.append(
                RuleResult(
                    rule.name,
                    rule.column,
                    rule.kind,
                    rule.level,
                    0,
                    None,
                    False,
                    rule_verdict(rule, False, run_type),
                    rule.severity,
                    note=raw["error"],
                )
            )
            continue
        if rule.kind in ("row_count", "sql"):
            value = raw
            passed = accepts(rule.operator, rule.threshold, _number(value)) if value is not None else False
            failed = 0
            note = rule.note or ("the query returned no value" if value is None and rule.kind == "sql" else "")
        else:
            failed = int(raw or 0)
            if rule.kind in PREDICATE_KINDS:
                value, passed = failed, failed == 0
            else:
                value = _percent(failed, rows) if rule.unit == "percent" else failed
                passed = accepts(rule.operator, rule.threshold, value)
            note = rule.note
        results.append(
            RuleResult(
                rule.name,
                rule.column,
                rule.kind,
                rule.level,
                failed,
                value,
                passed,
                rule_verdict(rule, passed, run_type),
                rule.severity,
                note=note,
            )
        )
    verdict = worst(r.verdict for r in results)
    return BatchVerdict(rows, int(measured.get("violations") or 0), verdict, results, run_type)


def _percent(count, rows):
    return 0.0 if rows == 0 else round(100.0 * count / rows, 6)


def _number(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() and not math.isinf(number) else number
