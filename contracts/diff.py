"""What changed between two versions of a contract, and whether it breaks the data's consumers.

Every change gets a class: `breaking` (a consumer or a producer that followed the old version may now fail),
`non-breaking` (something was added or relaxed) or `info` (words only). `required_bump` is the smallest
semver bump a new version number must make: major if anything breaks, minor if anything is non-breaking,
patch if everything is info, none for identical documents. The rule table lives in docs/contracts.md and
tests/test_contract_diff.py holds the classifier to it, pair by pair.

Things are matched across the two versions by stable keys, never by position: schema objects, columns and
servers by their names, SLA properties by property (and element), quality rules by their column plus
`name`, else `metric`, else `rule` (else the kind of rule), numbered #2, #3 when one column has several
rules with the same key. Rules are compared by what they accept: an operator and its threshold become
the set of values (or metric results) that pass, so `mustBeGreaterThan: 0 -> mustBeGreaterOrEqualTo: 0`
is a relaxation and `mustBeBetween: [0, 10] -> [0, 5]` a tightening, whichever the operators.
"""

import math
from dataclasses import asdict, dataclass

from contracts.odcs import OPERATORS
from contracts.rules import normalise_severity
from contracts.semver import BUMPS

BREAKING, NON_BREAKING, INFO = "breaking", "non-breaking", "info"
CLASSES = (BREAKING, NON_BREAKING, INFO)
BUMP_OF_CLASS = {BREAKING: "major", NON_BREAKING: "minor", INFO: "patch"}

# Words only, wherever they appear.
INFO_FIELDS = frozenset(
    {"description", "tags", "authoritativeDefinitions", "customProperties", "businessName", "examples"}
)
# Fields that name the document rather than its content: the bump itself, and the lifecycle.
IGNORED_TOP_LEVEL = frozenset({"version", "status", "contractCreatedTs"})
# Where a server keeps the data: any change moves the data.
SERVER_LOCATION = frozenset(
    {
        "type",
        "host",
        "port",
        "path",
        "location",
        "database",
        "schema",
        "catalog",
        "project",
        "dataset",
        "format",
        "account",
        "table",
        "topic",
        "endpointUrl",
        "region",
        "delimiter",
    }
)

# The type lattice: a type may widen to any type above it on its chain; everything else is incompatible.
LOGICAL_CHAINS = (("integer", "number"), ("date", "timestamp"))
PHYSICAL_CHAINS = (
    ("tinyint", "smallint", "int", "bigint", "decimal", "double"),
    ("float", "double"),
    ("date", "timestamp"),
    ("char", "varchar", "string"),
)
PHYSICAL_ALIASES = {
    "byte": "tinyint",
    "short": "smallint",
    "integer": "int",
    "long": "bigint",
    "real": "float",
    "text": "string",
    "timestamp_ntz": "timestamp",
    "numeric": "decimal",
}

# logicalTypeOptions: which way a number tightens.
UPPER_BOUNDS = frozenset({"maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties"})
LOWER_BOUNDS = frozenset({"minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties"})
FLAGS = frozenset({"uniqueItems"})  # true is stricter

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
RULE_WORDS = INFO_FIELDS | {"name", "dimension", "businessImpact", "method", "schedule", "scheduler"}

# SLA properties whose value is better when higher (a longer retention); the others are better when lower.
SLA_HIGHER_IS_STRICTER = frozenset({"retention", "availability", "uptime", "generalAvailability"})
SECONDS_PER_UNIT = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "y": 31536000,
    "yr": 31536000,
    "year": 31536000,
    "years": 31536000,
}


@dataclass(frozen=True)
class Change:
    path: str
    change: str
    cls: str

    def as_dict(self):
        data = asdict(self)
        data["class"] = data.pop("cls")
        return data


@dataclass
class Diff:
    contract: str
    old: str
    new: str
    changes: list

    @property
    def required_bump(self):
        return required_bump(self.changes)

    @property
    def breaking(self):
        return [c for c in self.changes if c.cls == BREAKING]

    def as_dict(self):
        return {
            "contract": self.contract,
            "from": self.old,
            "to": self.new,
            "changes": [c.as_dict() for c in self.changes],
            "required_bump": self.required_bump,
        }


def required_bump(changes):
    bumps = [BUMP_OF_CLASS[c.cls] for c in changes]
    return max(bumps, key=BUMPS.index, default="none")


def diff_documents(old, new):
    """The classified changes from document `old` to document `new` (two ODCS mappings), as a Diff."""
    changes = []
    _top_level(old, new, changes)
    return Diff(
        str(new.get("id") or old.get("id") or ""), str(old.get("version", "")), str(new.get("version", "")), changes
    )


# --- the document, level by level ---


def _top_level(old, new, out):
    handled = {"schema", "servers", "slaProperties", "apiVersion", "id", "kind"} | IGNORED_TOP_LEVEL
    if old.get("apiVersion") != new.get("apiVersion"):
        out.append(
            Change("apiVersion", f"apiVersion changed: {old.get('apiVersion')} -> {new.get('apiVersion')}", INFO)
        )
    _objects(_keyed(old.get("schema"), "name"), _keyed(new.get("schema"), "name"), out)
    _servers(_keyed(old.get("servers"), "server"), _keyed(new.get("servers"), "server"), out)
    _slas(_sla_keyed(old.get("slaProperties")), _sla_keyed(new.get("slaProperties")), out)
    _plain_fields(old, new, "", handled, out)


def _objects(old, new, out):
    for name in old:
        where = f"schema.{name}"
        if name not in new:
            out.append(Change(where, "schema object removed", BREAKING))
            continue
        a, b = old[name], new[name]
        _columns(where, _keyed(a.get("properties"), "name"), _keyed(b.get("properties"), "name"), out)
        _rules(where, a.get("quality"), b.get("quality"), out)
        _plain_fields(a, b, where, {"name", "properties", "quality"}, out)
    for name in new:
        if name not in old:
            out.append(Change(f"schema.{name}", "schema object added", NON_BREAKING))


def _columns(where, old, new, out):
    for name in old:
        path = f"{where}.properties.{name}"
        if name not in new:
            out.append(Change(path, "column removed (or renamed)", BREAKING))
            continue
        a, b = old[name], new[name]
        _type(path, "logicalType", a.get("logicalType"), b.get("logicalType"), LOGICAL_CHAINS, out)
        _type(
            path,
            "physicalType",
            _physical(a.get("physicalType")),
            _physical(b.get("physicalType")),
            PHYSICAL_CHAINS,
            out,
        )
        for flag in ("required", "unique", "primaryKey"):
            _flag(path, flag, a.get(flag), b.get(flag), out)
        _type_options(path, a.get("logicalTypeOptions") or {}, b.get("logicalTypeOptions") or {}, out)
        _rules(path, a.get("quality"), b.get("quality"), out)
        handled = {"name", "logicalType", "physicalType", "required", "unique", "primaryKey", "logicalTypeOptions"}
        _plain_fields(a, b, path, handled | {"quality"}, out)
    for name in new:
        if name not in old:
            path = f"{where}.properties.{name}"
            if new[name].get("required"):
                out.append(Change(path, "required column added", BREAKING))
            else:
                out.append(Change(path, "optional column added", NON_BREAKING))


def _type(path, field, old, new, chains, out):
    if old == new:
        return
    where = f"{path}.{field}"
    if old is None:
        out.append(Change(where, f"{field} set: {new}", BREAKING))
    elif new is None:
        out.append(Change(where, f"{field} dropped (was {old})", NON_BREAKING))
    elif _widens(old, new, chains):
        out.append(Change(where, f"type widened: {old} -> {new}", NON_BREAKING))
    elif _widens(new, old, chains):
        out.append(Change(where, f"type narrowed: {old} -> {new}", BREAKING))
    else:
        out.append(Change(where, f"type changed incompatibly: {old} -> {new}", BREAKING))


def _widens(old, new, chains):
    return any(old in chain and new in chain and chain.index(old) < chain.index(new) for chain in chains)


def _physical(value):
    if value is None:
        return None
    text = str(value).strip().lower()
    base = text.split("(")[0].strip()  # decimal(10,2) sits where decimal sits; its precision is its own matter
    return PHYSICAL_ALIASES.get(base, base)


def _flag(path, flag, old, new, out):
    old, new = bool(old), bool(new)
    if old == new:
        return
    if new:
        out.append(Change(f"{path}.{flag}", f"{flag} added", BREAKING))
    else:
        out.append(Change(f"{path}.{flag}", f"{flag} removed", NON_BREAKING))


def _type_options(path, old, new, out):
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        where = f"{path}.logicalTypeOptions.{key}"
        if key in UPPER_BOUNDS | LOWER_BOUNDS and _numbers(a, b):
            out.append(_bound_change(where, key, a, b, upper=key in UPPER_BOUNDS))
        elif key in FLAGS or isinstance(a, bool) or isinstance(b, bool):
            # v3.0.x spells exclusiveMinimum/exclusiveMaximum as booleans: true is stricter, like uniqueItems.
            stricter = bool(b) and not bool(a)
            out.append(Change(where, f"{key}: {a} -> {b}", BREAKING if stricter else NON_BREAKING))
        elif b is None:
            out.append(Change(where, f"{key} removed (was {a!r})", NON_BREAKING))
        elif a is None:
            out.append(Change(where, f"{key} added: {b!r}", BREAKING))
        else:
            out.append(Change(where, f"{key} changed: {a!r} -> {b!r}", BREAKING))


def _numbers(*values):
    return all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values)


def _bound_change(where, key, old, new, *, upper):
    if new is None:
        return Change(where, f"{key} removed (was {old})", NON_BREAKING)
    if old is None:
        return Change(where, f"{key} added: {new}", BREAKING)
    tighter = new < old if upper else new > old
    word = "narrowed" if tighter else "widened"
    return Change(where, f"{key} {word}: {old} -> {new}", BREAKING if tighter else NON_BREAKING)


# --- quality rules ---


def rule_keys(items):
    """{key: rule} for a list of quality items; the key is how a rule is known across versions."""
    keyed, seen = {}, {}
    for item in items or []:
        if not isinstance(item, dict):
            continue
        base = rule_key(item)
        seen[base] = seen.get(base, 0) + 1
        keyed[base if seen[base] == 1 else f"{base}#{seen[base]}"] = item
    return keyed


def rule_key(item):
    if item.get("name"):
        return str(item["name"])
    kind = item.get("type", "library")
    if kind == "library":
        return str(item.get("metric") or item.get("rule") or "value")
    if kind == "custom":
        return f"custom:{item.get('engine', '')}"
    return str(kind)  # sql, text


def _rules(where, old, new, out):
    old, new = rule_keys(old), rule_keys(new)
    for key in old:
        path = f"{where}.quality.{key}"
        if key not in new:
            out.append(Change(path, "rule removed", INFO if _is_text(old[key]) else NON_BREAKING))
        else:
            _rule(path, old[key], new[key], out)
    for key in new:
        if key not in old:
            path = f"{where}.quality.{key}"
            item = new[key]
            if _is_text(item):
                out.append(Change(path, "text rule added", INFO))
            else:
                severity = _severity(item)
                cls = BREAKING if severity == "error" else NON_BREAKING
                out.append(Change(path, f"rule added with severity {severity}", cls))


def _is_text(item):
    return item.get("type") == "text"


def _severity(item):
    return normalise_severity(item.get("severity"))[0]


def _rule(path, old, new, out):
    if _is_text(old) and _is_text(new):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append(Change(f"{path}.{key}", f"{key} changed", INFO))
        return
    handled = set(OPERATORS) | {"severity", "unit", "arguments", "query", "validValues", "type", "metric", "rule"}
    _operator(path, old, new, out)
    _severity_change(path, old, new, out)
    if (old.get("unit") or "rows") != (new.get("unit") or "rows"):
        unit_path = f"{path}.unit"
        out.append(
            Change(unit_path, f"unit changed: {old.get('unit') or 'rows'} -> {new.get('unit') or 'rows'}", BREAKING)
        )
    if old.get("query") != new.get("query"):
        out.append(Change(f"{path}.query", "query changed", BREAKING))
    for field in ("type", "metric", "rule"):
        if old.get(field) != new.get(field):
            out.append(Change(f"{path}.{field}", f"{field} changed: {old.get(field)} -> {new.get(field)}", BREAKING))
    _arguments(path, old, new, out)
    for key in sorted((set(old) | set(new)) - handled):
        if old.get(key) != new.get(key):
            cls = INFO if key in RULE_WORDS else NON_BREAKING
            out.append(Change(f"{path}.{key}", f"{key} changed", cls))


def _severity_change(path, old, new, out):
    a, b = _severity(old), _severity(new)
    if a == b:
        return
    raised = SEVERITY_RANK[b] > SEVERITY_RANK[a]
    if raised:
        out.append(
            Change(f"{path}.severity", f"severity raised: {a} -> {b}", BREAKING if b == "error" else NON_BREAKING)
        )
    else:
        out.append(Change(f"{path}.severity", f"severity lowered: {a} -> {b}", NON_BREAKING))


def _operator(path, old, new, out):
    (op_a, a), (op_b, b) = _operator_of(old), _operator_of(new)
    if (op_a, a) == (op_b, b):
        return
    where = f"{path}.{op_b or op_a}"
    label = f"{_say(op_a, a)} -> {_say(op_b, b)}"
    if op_a is None:
        out.append(Change(where, f"threshold added: {_say(op_b, b)}", BREAKING))
        return
    if op_b is None:
        out.append(Change(where, f"threshold removed: {_say(op_a, a)}", NON_BREAKING))
        return
    if isinstance(a, list) and isinstance(b, list) and op_a == op_b == "mustBe":
        _enum(where, a, b, out, narrower_is_stricter=True)
        return
    if isinstance(a, str) or isinstance(b, str):
        out.append(Change(where, f"pattern changed: {label}", BREAKING))
        return
    old_set, new_set = _accepted(op_a, a), _accepted(op_b, b)
    if old_set is None or new_set is None:
        out.append(Change(where, f"threshold changed: {label}", BREAKING))
    elif _within(new_set, old_set):
        out.append(Change(where, f"threshold tightened: {label}", BREAKING))
    elif _within(old_set, new_set):
        out.append(Change(where, f"threshold relaxed: {label}", NON_BREAKING))
    else:
        out.append(Change(where, f"threshold changed: {label}", BREAKING))


def _operator_of(item):
    for op in OPERATORS:
        if op in item:
            return op, item[op]
    return None, None


def _say(op, value):
    return f"{op} {value}" if op else "none"


def _enum(where, old, new, out, *, narrower_is_stricter):
    a, b = set(map(str, old)), set(map(str, new))
    if a == b:
        return
    if b < a:
        cls = BREAKING if narrower_is_stricter else NON_BREAKING
        out.append(Change(where, f"enum narrowed: removed {', '.join(sorted(a - b))}", cls))
    elif b > a:
        cls = NON_BREAKING if narrower_is_stricter else BREAKING
        out.append(Change(where, f"enum widened: added {', '.join(sorted(b - a))}", cls))
    else:
        out.append(
            Change(
                where, f"enum changed: removed {', '.join(sorted(a - b))}; added {', '.join(sorted(b - a))}", BREAKING
            )
        )


def _arguments(path, old, new, out):
    a = dict(old.get("arguments") or {}) if isinstance(old.get("arguments"), dict) else {}
    b = dict(new.get("arguments") or {}) if isinstance(new.get("arguments"), dict) else {}
    # v3.0.x writes validValues beside the rule; v3.1.0 under arguments: one meaning.
    for item, args in ((old, a), (new, b)):
        if "validValues" in item and "validValues" not in args:
            args["validValues"] = item["validValues"]
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        where = f"{path}.arguments.{key}"
        if key == "validValues" and isinstance(x, list) and isinstance(y, list):
            _enum(where, x, y, out, narrower_is_stricter=True)
        elif key == "missingValues" and isinstance(x, list) and isinstance(y, list):
            # More values counted as missing: more rows fail.
            _enum(where, x, y, out, narrower_is_stricter=False)
        elif key == "pattern":
            out.append(Change(where, f"pattern changed: {x!r} -> {y!r}", BREAKING))
        else:
            out.append(Change(where, f"{key} changed: {x!r} -> {y!r}", BREAKING))


# The set of values an operator accepts, as a list of intervals (low, low_closed, high, high_closed).
INF = math.inf


def _accepted(op, value):
    def number(v):
        return isinstance(v, int | float) and not isinstance(v, bool)

    if op in ("mustBeBetween", "mustNotBeBetween"):
        if not (isinstance(value, list) and len(value) == 2 and all(number(v) for v in value)):
            return None
        low, high = value
        if op == "mustBeBetween":
            return [(low, True, high, True)]
        return [(-INF, False, low, False), (high, False, INF, False)]
    if not number(value):
        return None
    return {
        "mustBe": [(value, True, value, True)],
        "mustNotBe": [(-INF, False, value, False), (value, False, INF, False)],
        "mustBeGreaterThan": [(value, False, INF, False)],
        "mustBeGreaterOrEqualTo": [(value, True, INF, False)],
        "mustBeLessThan": [(-INF, False, value, False)],
        "mustBeLessOrEqualTo": [(-INF, False, value, True)],
    }[op]


def _within(inner, outer):
    """Every interval of `inner` lies inside one interval of `outer` (both lists of disjoint intervals)."""
    return all(any(_interval_within(i, o) for o in outer) for i in inner)


def _interval_within(inner, outer):
    lo, lo_closed, hi, hi_closed = inner
    olo, olo_closed, ohi, ohi_closed = outer
    low_ok = lo > olo or (lo == olo and (olo_closed or not lo_closed))
    high_ok = hi < ohi or (hi == ohi and (ohi_closed or not hi_closed))
    return low_ok and high_ok


# --- servers and SLAs ---


def _servers(old, new, out):
    for name in old:
        path = f"servers.{name}"
        if name not in new:
            out.append(Change(path, "server removed", BREAKING))
            continue
        a, b = old[name], new[name]
        for key in sorted(set(a) | set(b)):
            if key == "server" or a.get(key) == b.get(key):
                continue
            if key in SERVER_LOCATION:
                out.append(Change(f"{path}.{key}", f"server moved: {key} {a.get(key)!r} -> {b.get(key)!r}", BREAKING))
            else:
                out.append(_plain_change(f"{path}.{key}", key, a.get(key), b.get(key)))
    for name in new:
        if name not in old:
            out.append(Change(f"servers.{name}", "server added", NON_BREAKING))


def _sla_keyed(items):
    keyed = {}
    for item in items or []:
        if isinstance(item, dict) and item.get("property"):
            key = str(item["property"]) + (f"@{item['element']}" if item.get("element") else "")
            keyed[key] = item
    return keyed


def _slas(old, new, out):
    for key in old:
        path = f"slaProperties.{key}"
        if key not in new:
            out.append(Change(path, "SLA removed", NON_BREAKING))
            continue
        a, b = old[key], new[key]
        if (a.get("value"), a.get("unit")) != (b.get("value"), b.get("unit")):
            out.append(_sla_change(path, key.split("@")[0], a, b))
        for field in sorted((set(a) | set(b)) - {"property", "element", "value", "unit"}):
            if a.get(field) != b.get(field):
                out.append(_plain_change(f"{path}.{field}", field, a.get(field), b.get(field)))
    for key in new:
        if key not in old:
            out.append(Change(f"slaProperties.{key}", "SLA added", BREAKING))


def _sla_change(path, prop, old, new):
    a, b = _sla_seconds(old), _sla_seconds(new)
    said = (
        f"{old.get('value')} {old.get('unit') or ''}".strip()
        + " -> "
        + f"{new.get('value')} {new.get('unit') or ''}".strip()
    )
    if a is None or b is None:
        return Change(f"{path}.value", f"SLA changed: {said}", BREAKING)
    tighter = b > a if prop in SLA_HIGHER_IS_STRICTER else b < a
    if tighter:
        return Change(f"{path}.value", f"SLA tightened: {said}", BREAKING)
    return Change(f"{path}.value", f"SLA relaxed: {said}", NON_BREAKING)


def _sla_seconds(item):
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    unit = item.get("unit")
    if unit in (None, ""):
        return value
    factor = SECONDS_PER_UNIT.get(str(unit).strip().lower())
    return None if factor is None else value * factor


# --- anything else ---


def _plain_fields(old, new, where, handled, out):
    for key in sorted((set(old) | set(new)) - set(handled)):
        if old.get(key) != new.get(key):
            out.append(_plain_change(f"{where}.{key}" if where else key, key, old.get(key), new.get(key)))


def _plain_change(path, key, old, new):
    """A field no rule above speaks of: words are info, anything else is a non-breaking change."""
    if key in INFO_FIELDS:
        return Change(path, f"{key} changed", INFO)
    if old is None:
        return Change(path, f"{key} added", NON_BREAKING)
    if new is None:
        return Change(path, f"{key} removed", NON_BREAKING)
    return Change(path, f"{key} changed: {_brief(old)} -> {_brief(new)}", NON_BREAKING)


def _brief(value, limit=60):
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keyed(items, field):
    return {str(item[field]): item for item in items or [] if isinstance(item, dict) and item.get(field)}
