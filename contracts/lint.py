"""Lint: where an accepted document departs from the official JSON Schema of its apiVersion.

Departures are warnings, never refusals: dc43 contracts are written in a looser style and must keep working.
"""

import json
from functools import lru_cache

from contracts.problems import Problem, dotted


def lint(document, api_version):
    """Warnings for an accepted document that departs from its official JSON Schema."""
    warnings = []
    raw = str(document.get("apiVersion", ""))
    if raw and not raw.startswith("v"):
        warnings.append(Problem("apiVersion", f"the official schema spells it 'v{raw}'"))
    if api_version and api_version.startswith("v3.0"):
        warnings.extend(_lint_30(document))
    else:
        warnings.extend(_lint_json_schema(document))
    return [str(w) for w in warnings]


def _lint_30(document):
    """ODCS 3.0.x facts: status is required, a closed list of logical types, `rule` on library items."""
    warnings = []
    if not document.get("status"):
        warnings.append(Problem("status", "required by the v3.0.x schema"))
    for where, prop in _properties(document):
        logical = prop.get("logicalType")
        if logical in ("timestamp", "time"):
            warnings.append(Problem(f"{where}.logicalType", f"{logical!r} is a v3.1.0 logical type, not in v3.0.x"))
    for where, item in _quality_items(document):
        kind = item.get("type", "library")
        if kind == "library" and not item.get("rule"):
            warnings.append(Problem(where, "the v3.0.x schema requires `rule` on library quality items"))
        if kind == "library" and item.get("metric"):
            warnings.append(Problem(f"{where}.metric", "`metric` is a v3.1.0 field; v3.0.x names rules with `rule`"))
        if kind == "custom" and not (item.get("engine") and item.get("implementation")):
            warnings.append(Problem(where, "the schema requires `engine` and `implementation` on custom rules"))
    return warnings


@lru_cache(maxsize=1)
def _official_validator():
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    return jsonschema.Draft201909Validator(schema)


def _lint_json_schema(document):
    """v3.1.0 documents: the JSON Schema shipped with the official ODCS package.

    The package carries only its newest schema (v3.2.0 with the pinned release), whose apiVersion list
    includes v3.1.0; v3.0.x documents are linted against the known v3.0.x facts instead (see _lint_30),
    because that newer schema would flag `rule`, which v3.0.x requires.
    """
    warnings = []
    errors = sorted(_official_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors[:20]:
        warnings.append(Problem(dotted(list(error.absolute_path)), _short(error.message)))
    for where, item in _quality_items(document):
        if item.get("rule"):
            warnings.append(Problem(f"{where}.rule", "`rule` is deprecated in v3.1.0; use `metric`"))
    return warnings


def _short(message, limit=200):
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _properties(document):
    for i, obj in enumerate(document.get("schema") or []):
        for j, prop in enumerate(obj.get("properties") or []):
            yield f"schema[{i}].properties[{j}]", prop


def _quality_items(document):
    for i, obj in enumerate(document.get("schema") or []):
        for k, item in enumerate(obj.get("quality") or []):
            yield f"schema[{i}].quality[{k}]", item
        for j, prop in enumerate(obj.get("properties") or []):
            for k, item in enumerate(prop.get("quality") or []):
                yield f"schema[{i}].properties[{j}].quality[{k}]", item
