"""`manage.py import_contracts`: ODCS files or folders in, all or nothing, the same document twice a no-op."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contracts import odcs
from contracts.models import Contract, ContractVersion

pytestmark = pytest.mark.django_db


def run_command(*args):
    out = StringIO()
    try:
        call_command("import_contracts", *[str(a) for a in args], stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


def document(contract_id="acme.sales", version="1.0.0", status=None, column="amount"):
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": contract_id,
        "version": version,
        "schema": [{"name": "sales", "properties": [{"name": column, "logicalType": "number", "required": True}]}],
    }
    if status:
        doc["status"] = status
    return doc


def write_yaml(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(odcs.to_yaml(doc))
    return path


def counts():
    return Contract.objects.count(), ContractVersion.objects.count()


def test_a_folder_is_searched_recursively_for_yaml_yml_and_json(tmp_path):
    write_yaml(tmp_path / "a.yaml", document("acme.a"))
    write_yaml(tmp_path / "deeper" / "b.yml", document("acme.b"))
    (tmp_path / "deeper" / "c.json").write_text(json.dumps(document("acme.c")))
    (tmp_path / "notes.txt").write_text("not a contract")
    code, out, _ = run_command(tmp_path)
    assert code == 0
    assert [line.split(" (")[0] for line in out.splitlines()] == [
        "created: acme.a 1.0.0",
        "created: acme.b 1.0.0",
        "created: acme.c 1.0.0",
    ]
    assert ContractVersion.objects.filter(contract__contract_id__startswith="acme.").count() == 3


def test_a_version_keeps_the_status_its_document_declares_and_is_draft_without_one(tmp_path):
    run_command(
        write_yaml(tmp_path / "a.yaml", document("acme.a", status="active")),
        write_yaml(tmp_path / "b.yaml", document("acme.b")),
    )
    assert ContractVersion.objects.get(contract__contract_id="acme.a").status == "active"
    assert ContractVersion.objects.get(contract__contract_id="acme.b").status == "draft"


def test_importing_the_same_document_again_is_a_no_op(tmp_path):
    path = write_yaml(tmp_path / "sales.yaml", document(status="active"))
    run_command(path)
    before = counts(), ContractVersion.objects.get(contract__contract_id="acme.sales").created_at
    code, out, _ = run_command(path)
    assert (code, out) == (0, f"unchanged: acme.sales 1.0.0 ({path})\n")
    assert (counts(), ContractVersion.objects.get(contract__contract_id="acme.sales").created_at) == before


def test_a_demo_contract_file_is_unchanged(demo_contracts):
    from contracts.demo import DEMO_DIR

    code, out, _ = run_command(DEMO_DIR / "shop.orders.yaml")
    assert (code, out.split(" (")[0]) == (0, "unchanged: shop.orders 0.1.0")


def test_a_changed_document_under_an_existing_version_is_refused_naming_file_and_version(tmp_path):
    run_command(write_yaml(tmp_path / "sales.yaml", document()))
    new_contract = write_yaml(tmp_path / "other.yaml", document("acme.other"))
    changed = write_yaml(tmp_path / "sales-v2.yaml", document(column="total"))
    before = counts()
    code, out, err = run_command(new_contract, changed)
    assert code == 2
    assert out == ""
    assert f"{changed}: acme.sales version 1.0.0 already exists with a different document" in err
    assert counts() == before
    assert not Contract.objects.filter(contract_id="acme.other").exists()


def test_an_invalid_document_is_refused_naming_file_and_problem_and_nothing_is_saved(tmp_path):
    good = write_yaml(tmp_path / "good.yaml", document("acme.good"))
    bad_doc = document("acme.bad")
    del bad_doc["schema"]
    bad = write_yaml(tmp_path / "bad.yaml", bad_doc)
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"id": ')
    before = counts()
    code, _, err = run_command(good, bad, malformed)
    assert code == 2
    assert f"{bad}: schema: is required" in err
    assert f"{malformed}: malformed JSON at line 1" in err
    assert counts() == before


def test_an_unknown_status_is_refused(tmp_path):
    path = write_yaml(tmp_path / "sales.yaml", document(status="proposed"))
    code, _, err = run_command(path)
    assert code == 2
    assert f"{path}: status: 'proposed' is not one of draft, active, deprecated, retired" in err
    assert not Contract.objects.filter(contract_id="acme.sales").exists()


def test_a_path_that_does_not_exist_is_refused(tmp_path):
    code, _, err = run_command(tmp_path / "nowhere")
    assert code == 2
    assert "nowhere: no such file or folder" in err
