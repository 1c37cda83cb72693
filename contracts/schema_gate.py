"""The schema gate: a DataFrame's columns and types against a contract's schema object.

Engine types are spelled many ways (long, int64, bigint...): they are compared in Spark's
simpleString spelling.
"""

import re
from dataclasses import asdict, dataclass

from contracts.verdicts import BLOCK, WARN

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
