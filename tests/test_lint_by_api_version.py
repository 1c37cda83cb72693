"""Lint by apiVersion (contracts/lint.py): each document against the official JSON Schema of the version it declares."""

import hashlib
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from contracts import odcs
from contracts.lint import SCHEMA_FILES, lint, official_schema, schema_version_for

ROOT = Path(__file__).resolve().parents[1]


def document(api_version, **extra):
    doc = {
        "apiVersion": api_version,
        "kind": "DataContract",
        "id": "t.lint",
        "version": "1.0.0",
        "status": "active",
        "schema": [{"name": "t", "properties": [{"name": "a", "logicalType": "integer"}]}],
    }
    doc.update(extra)
    return doc


@pytest.mark.parametrize("api_version", ["v3.0.0", "v3.0.1", "v3.0.2", "v3.1.0", "v3.2.0"])
def test_each_api_version_is_linted_with_its_own_schema(api_version):
    assert schema_version_for(api_version) == api_version
    assert official_schema(api_version)["properties"]["apiVersion"]["default"] == api_version
    assert lint(document(api_version), api_version) == []


def test_an_unknown_api_version_says_which_schema_was_used():
    warnings = lint(document("v3.9.0"), "v3.9.0")
    assert warnings[0] == "apiVersion: no official schema for 'v3.9.0'; linted against v3.2.0"


def test_the_same_document_lints_differently_under_3_0_and_3_1():
    # timestamp is a v3.1.0 logical type; `rule` is required on v3.0.x library items and deprecated in v3.1.0.
    schema = [
        {
            "name": "t",
            "properties": [{"name": "a", "logicalType": "timestamp", "quality": [{"rule": "nullCheck", "mustBe": 0}]}],
        }
    ]
    under_30 = lint(document("v3.0.2", schema=schema), "v3.0.2")
    under_31 = lint(document("v3.1.0", schema=schema), "v3.1.0")
    assert any("'timestamp' is not one of" in w and w.endswith("(v3.0.2 schema)") for w in under_30)
    assert not any("deprecated" in w for w in under_30)
    assert not any("timestamp" in w for w in under_31)
    assert "schema[0].properties[0].quality[0].rule: `rule` is deprecated since v3.1.0; use `metric`" in under_31


def test_status_is_required_by_the_3_0_schema_and_not_by_3_2():
    without = document("v3.0.1")
    del without["status"]
    assert lint(without, "v3.0.1") == ["status: 'status' is a required property (v3.0.1 schema)"]
    without["apiVersion"] = "v3.2.0"
    assert lint(without, "v3.2.0") == []


def test_departures_are_warnings_and_the_document_is_accepted():
    schema = [{"name": "t", "properties": [{"name": "a", "logicalType": "time"}]}]
    parsed = odcs.parse(odcs.to_yaml(document("v3.0.2", schema=schema)))
    assert parsed.lint  # warned, not refused


def test_the_official_schemas_ship_unmodified_with_their_licence():
    folder = resources.files("contracts").joinpath("odcs_schemas")
    names = {entry.name for entry in folder.iterdir()}
    assert set(SCHEMA_FILES.values()) | {"LICENSE", "README.md"} <= names
    assert "Apache License" in folder.joinpath("LICENSE").read_text()
    digests = {
        name: hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest()[:16] for name in SCHEMA_FILES.values()
    }
    assert digests == KNOWN_DIGESTS


def test_the_schemas_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "odcs_schemas/*.json" in config["tool"]["setuptools"]["package-data"]["contracts"]
    assert "odcs_schemas/LICENSE" in config["tool"]["setuptools"]["package-data"]["contracts"]


# sha256 prefixes of the files as published (bitol-io/open-data-contract-standard, schema/, commit e6a1c66).
KNOWN_DIGESTS = {
    "odcs-json-schema-v3.0.0.json": "421d1bbcead74578",
    "odcs-json-schema-v3.0.1.json": "346408469a760b4a",
    "odcs-json-schema-v3.0.2.json": "fc9d774ea73d13b4",
    "odcs-json-schema-v3.1.0.json": "1a35de14c688b400",
}
