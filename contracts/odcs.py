"""Parsing, validation and lint of ODCS v3 data contract documents.

A document is *refused* when we could not govern data with it: it does not
parse, its structure does not match the official pydantic model of ODCS, or it
misses what the checks need (a schema, known logical types, one operator per
rule). A document that we accept but that departs from the official JSON
Schema of its apiVersion gets *lint* warnings instead: dc43 contracts are
written in a looser style (a quality item with only an operator, `rule: enum`)
and must keep working.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field

import yaml

from contracts import sqlrules
from contracts.identifiers import identifier_problem
from contracts.lint import lint
from contracts.problems import ContractInvalid, Problem, dotted
from contracts.values import is_number

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 64
ALIASES_REFUSED = "YAML aliases are not allowed in contracts"
SUPPORTED_API_VERSIONS = ("v3.0.0", "v3.0.1", "v3.0.2", "v3.1.0")
LOGICAL_TYPES_30 = ("string", "date", "number", "integer", "object", "array", "boolean")
LOGICAL_TYPES_31 = LOGICAL_TYPES_30 + ("timestamp", "time")
QUALITY_TYPES = ("library", "text", "sql", "custom")
OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
NUMERIC_OPERATORS = OPERATORS[2:6]
RANGE_OPERATORS = OPERATORS[6:]
METRICS_31 = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")
NUMERIC_TYPE_OPTIONS = ("minimum", "maximum", "multipleOf")
LENGTH_TYPE_OPTIONS = ("minLength", "maxLength", "minItems", "maxItems")


@dataclass
class ParsedContract:
    document: dict
    api_version: str  # normalised, always with the leading "v"
    lint: list = field(default_factory=list)

    @property
    def contract_id(self):
        return self.document["id"]

    @property
    def version(self):
        return str(self.document["version"])

    @property
    def fingerprint(self):
        return fingerprint(self.document)


class ContractLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases (one alias can expand into millions of nodes) and deep nesting."""

    depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refusal(ALIASES_REFUSED)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refusal(f"the document nests deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refusal(Exception):
    pass


def load_text(text):
    """Turn YAML or JSON text into a mapping, or refuse it with the position of the error.

    Every way a contract enters the site (admin, files, imports) comes through here, so the limits that
    keep a hostile document from exhausting the process live here: size, nesting, YAML aliases.
    """
    if not text or not text.strip():
        raise ContractInvalid([Problem("", "the document is empty")])
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise ContractInvalid([Problem("", f"the document is larger than {MAX_DOCUMENT_BYTES // 1024} KB")])
    try:
        if text.lstrip().startswith("{"):
            if _json_depth(text) > MAX_DEPTH:
                raise _Refusal(f"the document nests deeper than {MAX_DEPTH} levels")
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=ContractLoader)  # noqa: S506 (ContractLoader is a SafeLoader)
    except _Refusal as exc:
        raise ContractInvalid([Problem("", str(exc))]) from None
    except RecursionError:
        raise ContractInvalid([Problem("", "the document nests too deeply")]) from None
    except json.JSONDecodeError as exc:
        raise ContractInvalid(
            [Problem("", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ContractInvalid([Problem("", f"malformed YAML{where}: {reason}")]) from None
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise ContractInvalid([Problem("", f"the document must be a mapping of ODCS fields, got {kind}")])
    # YAML turns dates into date objects; the stored document is plain JSON.
    return json.loads(json.dumps(data, default=str))


def _depth(value):
    """How deeply lists and mappings nest, walked without recursion (the document may come from anywhere)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            pending.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return deepest


def _json_depth(text):
    """The deepest nesting of brackets outside strings, counted without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def normalise_api_version(value):
    text = str(value).strip()
    return text if text.startswith("v") else f"v{text}"


def parse(text):
    """Parse and validate text; returns a ParsedContract or raises ContractInvalid."""
    return validate(load_text(text))


def validate(document):
    try:
        return _validate(document)
    except RecursionError:
        # A document built in Python (not through load_text) can still nest without limit.
        raise ContractInvalid([Problem("", "the document nests too deeply")]) from None


def _validate(document):
    if _depth(document) > MAX_DEPTH:
        raise ContractInvalid([Problem("", f"the document nests deeper than {MAX_DEPTH} levels")])
    problems = []
    for key in ("apiVersion", "kind", "id", "version", "schema"):
        if document.get(key) in (None, ""):
            problems.append(Problem(key, "is required"))
    if document.get("schema") == []:
        # Checks need columns to measure; an empty schema governs nothing.
        problems.append(Problem("schema", "must list at least one schema object"))
    api_version = None
    if document.get("apiVersion") not in (None, ""):
        api_version = normalise_api_version(document["apiVersion"])
        if api_version not in SUPPORTED_API_VERSIONS:
            problems.append(
                Problem(
                    "apiVersion",
                    f"{document['apiVersion']!r} is not supported; use one of " + ", ".join(SUPPORTED_API_VERSIONS),
                )
            )
    if document.get("kind") not in (None, "", "DataContract"):
        problems.append(Problem("kind", f"must be 'DataContract', got {document['kind']!r}"))
    if document.get("id") not in (None, "") and not isinstance(document["id"], str):
        problems.append(Problem("id", "must be a string"))
    for key in ("id", "version"):
        if document.get(key) not in (None, "") and isinstance(document[key], str | int | float):
            problem = identifier_problem(str(document[key]))
            if problem:
                problems.append(Problem(key, problem))
    if isinstance(document.get("schema"), list):
        problems.extend(_schema_problems(document["schema"]))
    problems.extend(_model_problems(document))
    if problems:
        raise ContractInvalid(_first_per_path(problems))
    return ParsedContract(document=document, api_version=api_version, lint=lint(document, api_version))


def _first_per_path(problems):
    # Our own checks run first and say it more plainly than pydantic's union errors.
    seen, kept = set(), []
    for problem in problems:
        if problem.path not in seen:
            seen.add(problem.path)
            kept.append(problem)
    return kept


def _model_problems(document):
    """Structural errors reported by the official pydantic model of ODCS."""
    import pydantic
    from open_data_contract_standard.model import OpenDataContractStandard

    try:
        OpenDataContractStandard.model_validate(document)
    except pydantic.ValidationError as exc:
        return [Problem(dotted(err["loc"]), _pydantic_message(err)) for err in exc.errors()]
    return []


def _pydantic_message(err):
    if err["type"] == "extra_forbidden":
        return "is not an ODCS field"
    return err["msg"][0].lower() + err["msg"][1:]


def _schema_problems(objects):
    problems = []
    for i, obj in enumerate(objects):
        where = f"schema[{i}]"
        if not isinstance(obj, dict):
            problems.append(Problem(where, "must be a schema object (a mapping)"))
            continue
        if not obj.get("name"):
            problems.append(Problem(f"{where}.name", "is required"))
        properties = obj.get("properties") or []
        if not isinstance(properties, list):
            continue
        seen = set()
        for j, prop in enumerate(properties):
            pwhere = f"{where}.properties[{j}]"
            if not isinstance(prop, dict):
                continue
            name = prop.get("name")
            if not name:
                problems.append(Problem(f"{pwhere}.name", "is required"))
            elif name in seen:
                problems.append(Problem(f"{pwhere}.name", f"duplicate property name {name!r}"))
            seen.add(name)
            logical = prop.get("logicalType")
            if logical is not None and logical not in LOGICAL_TYPES_31:
                problems.append(
                    Problem(
                        f"{pwhere}.logicalType",
                        f"unknown logicalType {logical!r}; expected one of {', '.join(LOGICAL_TYPES_31)}",
                    )
                )
            problems.extend(_type_option_problems(prop.get("logicalTypeOptions"), pwhere))
            for k, item in enumerate(prop.get("quality") or []):
                problems.extend(_quality_problems(item, f"{pwhere}.quality[{k}]"))
        for k, item in enumerate(obj.get("quality") or []):
            problems.extend(_quality_problems(item, f"{where}.quality[{k}]"))
    return problems


def _type_option_problems(options, where):
    if not isinstance(options, dict):
        return []
    problems = []
    for key in NUMERIC_TYPE_OPTIONS + LENGTH_TYPE_OPTIONS:
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(Problem(f"{where}.logicalTypeOptions.{key}", f"must be a number, got {value!r}"))
    pattern = options.get("pattern")
    if pattern is not None:
        problems.extend(_regex_problems(pattern, f"{where}.logicalTypeOptions.pattern"))
    return problems


def _regex_problems(pattern, where):
    if not isinstance(pattern, str):
        return [Problem(where, f"must be a regular expression string, got {pattern!r}")]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [Problem(where, f"invalid regular expression: {exc}")]
    python_only = PYTHON_ONLY_REGEX.search(pattern)
    if python_only:
        # Spark matches with java.util.regex: a pattern only Python understands would fail every batch.
        return [
            Problem(where, f"uses Python-only regular expression syntax {python_only.group(0)!r}; Spark uses Java's")
        ]
    return []


# Named groups and backreferences in Python's spelling, conditional groups, and the ASCII/locale flags.
PYTHON_ONLY_REGEX = re.compile(r"(?<!\\)\(\?(?:P[<=>]|\(|[imsux-]*[aL])")


def _quality_problems(item, where):
    if not isinstance(item, dict):
        return [Problem(where, "must be a quality rule (a mapping)")]
    problems = []
    kind = item.get("type", "library")
    if kind not in QUALITY_TYPES:
        problems.append(
            Problem(f"{where}.type", f"unknown quality type {kind!r}; expected one of {', '.join(QUALITY_TYPES)}")
        )
        return problems
    operators = [op for op in OPERATORS if op in item]
    if kind in ("library", "sql") and len(operators) > 1:
        problems.append(Problem(where, f"has several operators ({', '.join(operators)}); a rule takes exactly one"))
    for op in operators:
        value = item[op]
        if op in NUMERIC_OPERATORS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(Problem(f"{where}.{op}", f"must be a number, got {value!r}"))
        if op in RANGE_OPERATORS:
            if not (isinstance(value, list) and len(value) == 2 and all(is_number(v) for v in value)):
                problems.append(Problem(f"{where}.{op}", f"must be a list of two numbers, got {value!r}"))
            elif value[0] > value[1]:
                problems.append(Problem(f"{where}.{op}", f"the smaller bound comes first, got {value!r}"))
    if kind == "sql":
        if not item.get("query"):
            problems.append(Problem(f"{where}.query", "is required for a sql rule"))
        elif not isinstance(item["query"], str):
            problems.append(Problem(f"{where}.query", "must be a string"))
        else:
            # Whatever DC43_SQL_RULES says now, so that switching it on never unleashes a stored query.
            reason = sqlrules.refusal(item["query"])
            if reason:
                problems.append(Problem(f"{where}.query", f"refused: {reason}"))
        if not operators:
            problems.append(Problem(where, "a sql rule needs an operator to compare its result with"))
    if kind == "library":
        metric = item.get("metric")
        if metric is not None and metric not in METRICS_31:
            problems.append(
                Problem(f"{where}.metric", f"unknown metric {metric!r}; expected one of {', '.join(METRICS_31)}")
            )
        rule = (item.get("rule") or "").lower()
        if rule in ("regex", "pattern") and isinstance(item.get("mustBe"), str):
            problems.extend(_regex_problems(item["mustBe"], f"{where}.mustBe"))
        pattern = (item.get("arguments") or {}).get("pattern") if isinstance(item.get("arguments"), dict) else None
        if pattern is not None:
            problems.extend(_regex_problems(pattern, f"{where}.arguments.pattern"))
        if not operators and not metric and not item.get("rule"):
            problems.append(Problem(where, "a library rule needs a metric (or rule) or an operator"))
    return problems


# --- canonical form ---


def canonical_json(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(document):
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def to_yaml(document):
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)
