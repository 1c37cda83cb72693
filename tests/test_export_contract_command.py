"""`manage.py export_contract` and the download on the contract pages: exports import back to the same fingerprint."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from contracts import odcs
from contracts.lint import validator
from contracts.models import Contract, ContractVersion

pytestmark = pytest.mark.django_db

PAYMENTS = Path(__file__).parent / "data" / "shop.payments-2.1.0.yaml"


def export(*args):
    out = StringIO()
    call_command("export_contract", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def held(demo_contracts):
    """Every demo contract (demo.streaming.* and shop.*), plus a 3.1.0 contract with two versions."""
    call_command("import_contracts", str(PAYMENTS), stdout=StringIO())
    newer = odcs.load_text(PAYMENTS.read_text())
    newer["version"] = "2.1.1"
    newer["description"]["purpose"] = "Payments, reworded: a patch."
    ContractVersion.from_text(json.dumps(newer), status="draft").save()
    return {cv.pk: cv.fingerprint for cv in ContractVersion.objects.all()}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_every_version_we_hold_imports_back_to_the_same_fingerprint(held, tmp_path, fmt):
    versions = list(ContractVersion.objects.select_related("contract"))
    ids = {cv.contract.contract_id for cv in versions}
    assert {"demo.streaming.events", "demo.streaming.events_processed", "demo.streaming.events_rejects"} <= ids
    assert {"shop.orders", "shop.orders_raw", "shop.orders_rejects", "shop.payments"} <= ids
    expected = {}
    for cv in versions:
        path = tmp_path / f"{cv.contract.contract_id}-{cv.version}.{fmt}"
        export(cv.contract.contract_id, "--version", cv.version, "--format", fmt, "--out", str(path))
        expected[(cv.contract.contract_id, cv.version)] = cv.fingerprint
    # Into an empty registry: every version is created again from its export alone.
    ContractVersion.objects.all().delete()
    Contract.objects.all().delete()
    out = StringIO()
    call_command("import_contracts", str(tmp_path), stdout=out)
    found = {(cv.contract.contract_id, cv.version): cv.fingerprint for cv in ContractVersion.objects.all()}
    assert found == expected


def test_importing_an_export_over_the_same_version_changes_nothing(held, tmp_path):
    path = tmp_path / "events.yaml"
    export("demo.streaming.events", "--out", str(path))
    out = StringIO()
    call_command("import_contracts", str(path), stdout=out)
    assert out.getvalue().startswith("unchanged: demo.streaming.events 0.1.0")


def test_the_export_of_a_3_1_0_document_passes_the_official_3_1_0_schema(held):
    for fmt in ("yaml", "json"):
        document = odcs.load_text(export("shop.payments", "--version", "2.1.0", "--format", fmt))
        assert document["apiVersion"] == "v3.1.0"
        assert list(validator("v3.1.0").iter_errors(document)) == []


def test_without_a_version_the_newest_active_one_is_exported(held):
    assert "version: 2.1.0" in export("shop.payments")


def test_json_is_indented_and_ends_with_a_newline(held):
    text = export("shop.payments", "--format", "json")
    assert text.startswith('{\n  "')
    assert text.endswith("}\n")


def test_an_unknown_contract_or_version_is_an_error(held):
    with pytest.raises(CommandError, match="no contract with id 'nope'"):
        export("nope")
    with pytest.raises(CommandError, match="has no version '9.9.9'"):
        export("shop.payments", "--version", "9.9.9")


@pytest.mark.parametrize(("fmt", "content_type"), [("yaml", "application/yaml"), ("json", "application/json")])
def test_the_download_serves_each_format_with_its_filename_and_content_type(held, user_client, fmt, content_type):
    response = user_client.get(reverse("contract-version-export", args=["shop.payments", "2.1.0", fmt]))
    assert response.status_code == 200
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="shop.payments-2.1.0.odcs.{fmt}"'
    assert odcs.parse(response.content.decode()).fingerprint == held_fingerprint("shop.payments", "2.1.0")


def test_an_unknown_download_format_is_not_found(held, user_client):
    response = user_client.get(reverse("contract-version-export", args=["shop.payments", "2.1.0", "xml"]))
    assert response.status_code == 404


def test_the_contract_page_links_both_downloads(held, user_client):
    html = user_client.get(reverse("contract-detail", args=["shop.payments"])).content.decode()
    assert reverse("contract-version-export", args=["shop.payments", "2.1.0", "yaml"]) in html
    assert reverse("contract-version-export", args=["shop.payments", "2.1.0", "json"]) in html


def held_fingerprint(contract_id, version):
    return ContractVersion.objects.get(contract__contract_id=contract_id, version=version).fingerprint
