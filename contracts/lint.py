"""Lint: where an accepted document departs from the official JSON Schema of its own apiVersion.

Departures are warnings, never refusals: dc43 contracts are written in a looser style and must keep working.
Each document is held to the schema of the apiVersion it declares: the official files for v3.0.0, v3.0.1,
v3.0.2 and v3.1.0 ship unmodified in contracts/odcs_schemas/; v3.2.0 uses the schema of the pinned
`open-data-contract-standard` package. An apiVersion we hold no schema for is linted against the newest
schema, and the first warning says so. Only facts the schemas cannot say (a deprecation) are written here.
"""

import json
from functools import lru_cache
from importlib import resources

from contracts.problems import Problem, dotted

SCHEMA_FILES = {
    "v3.0.0": "odcs-json-schema-v3.0.0.json",
    "v3.0.1": "odcs-json-schema-v3.0.1.json",
    "v3.0.2": "odcs-json-schema-v3.0.2.json",
    "v3.1.0": "odcs-json-schema-v3.1.0.json",
}
PACKAGE_SCHEMA_VERSION = "v3.2.0"
NEWEST = PACKAGE_SCHEMA_VERSION
MAX_SCHEMA_WARNINGS = 20


def lint(document, api_version):
    """Warnings (strings) for an accepted document that departs from the official schema of its apiVersion."""
    used = schema_version_for(api_version)
    warnings = []
    if used != api_version:
        warnings.append(Problem("apiVersion", f"no official schema for {api_version!r}; linted against {used}"))
    errors = sorted(validator(used).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors[:MAX_SCHEMA_WARNINGS]:
        path = list(error.absolute_path)
        if error.validator == "required" and error.message.count("'") >= 2:
            path.append(error.message.split("'")[1])  # the field that is missing, where a reader will look
        warnings.append(Problem(dotted(path), f"{_short(error.message)} ({used} schema)"))
    if used >= "v3.1.0":
        for where, item in _quality_items(document):
            if item.get("rule"):
                # The schema still allows `rule`; its deprecation is only in the standard's prose.
                warnings.append(Problem(f"{where}.rule", "`rule` is deprecated since v3.1.0; use `metric`"))
    return [str(w) for w in warnings]


def schema_version_for(api_version):
    """The apiVersion whose official schema lints a document declaring `api_version`."""
    if api_version in SCHEMA_FILES or api_version == PACKAGE_SCHEMA_VERSION:
        return api_version
    return NEWEST


def official_schema(api_version):
    """The official JSON Schema (a dict) for one of the apiVersions we hold a schema for."""
    if api_version == PACKAGE_SCHEMA_VERSION:
        text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text()
    else:
        text = resources.files("contracts").joinpath("odcs_schemas", SCHEMA_FILES[api_version]).read_text()
    return json.loads(text)


@lru_cache(maxsize=8)
def validator(api_version):
    import jsonschema

    return jsonschema.Draft201909Validator(official_schema(api_version))


def _short(message, limit=200):
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _quality_items(document):
    for i, obj in enumerate(document.get("schema") or []):
        if not isinstance(obj, dict):
            continue
        for k, item in enumerate(obj.get("quality") or []):
            yield f"schema[{i}].quality[{k}]", item
        for j, prop in enumerate(obj.get("properties") or []):
            for k, item in enumerate(prop.get("quality") or []):
                yield f"schema[{i}].properties[{j}].quality[{k}]", item
