"""The contract pages: the demo contracts after migrate, the list, a version's schema table and its YAML download."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from contracts import odcs
from contracts.models import Contract, ContractVersion
from registry.models import Dataset, DatasetVersion, MicroBatch, Run

pytestmark = pytest.mark.django_db

DEMO_IDS = [
    "demo.streaming.events",
    "demo.streaming.events_processed",
    "demo.streaming.events_rejects",
    "shop.orders",
    "shop.orders_raw",
    "shop.orders_rejects",
]


def version_url(contract_id="demo.streaming.events_processed", version="0.1.0"):
    return reverse("contract-version", args=[contract_id, version])


def test_a_migrated_database_holds_the_six_demo_contracts():
    versions = ContractVersion.objects.select_related("contract").order_by("contract__contract_id")
    assert [(cv.contract.contract_id, cv.version, cv.status, cv.api_version) for cv in versions] == [
        (contract_id, "0.1.0", "active", "v3.0.2") for contract_id in DEMO_IDS
    ]
    assert all(cv.document["apiVersion"] == "3.0.2" for cv in versions)
    assert all(cv.fingerprint == odcs.fingerprint(cv.document) for cv in versions)


def test_the_demo_contracts_describe_the_demo_columns():
    def columns(contract_id):
        doc = ContractVersion.objects.get(contract__contract_id=contract_id).document
        return {p["name"]: p for p in doc["schema"][0]["properties"]}

    events = columns("demo.streaming.events")
    assert (events["timestamp"]["logicalType"], events["timestamp"]["required"]) == ("timestamp", True)
    assert (events["value"]["physicalType"], events["value"]["required"]) == ("bigint", True)
    assert events["value"]["quality"][0]["mustBeGreaterOrEqualTo"] == 0
    processed = columns("demo.streaming.events_processed")
    assert list(processed) == ["timestamp", "value", "quality_flag"]
    assert processed["quality_flag"]["required"] is True
    assert processed["quality_flag"]["quality"][0]["rule"] == "enum"
    assert processed["quality_flag"]["quality"][0]["mustBe"] == ["valid", "warning"]
    rejects = columns("demo.streaming.events_rejects")
    assert list(rejects) == ["timestamp", "value", "reject_reasons", "run_id", "batch_id"]
    assert rejects["reject_reasons"]["physicalType"] == "array<string>"


def test_loading_the_demo_contracts_again_changes_nothing():
    before = list(ContractVersion.objects.values_list("pk", "fingerprint", "status"))
    call_command("load_demo_contracts")
    assert list(ContractVersion.objects.values_list("pk", "fingerprint", "status")) == before


def test_load_demo_contracts_restores_a_deleted_demo_contract():
    ContractVersion.objects.filter(contract__contract_id="demo.streaming.events_rejects").delete()
    call_command("load_demo_contracts")
    assert ContractVersion.objects.filter(contract__contract_id="demo.streaming.events_rejects").count() == 1


def test_the_contract_list_shows_the_six_demo_contracts(user_client):
    response = user_client.get(reverse("contract-list"))
    assert response.status_code == 200
    assert [c.contract_id for c in response.context["contracts"]] == DEMO_IDS
    html = response.content.decode()
    for contract_id in DEMO_IDS:
        assert f'href="{version_url(contract_id)}"' in html


def test_the_contract_page_lists_its_versions(user_client):
    response = user_client.get(reverse("contract-detail", args=["demo.streaming.events"]))
    assert response.status_code == 200
    assert [cv.version for cv in response.context["versions"]] == ["0.1.0"]


def test_the_version_page_shows_the_schema_as_a_table(user_client):
    response = user_client.get(version_url())
    assert response.status_code == 200
    [table] = response.context["objects"]
    assert table["name"] == "events_processed"
    rows = [(c["name"], c["type"], c["required"], c["rules"]) for c in table["columns"]]
    assert rows == [
        ("timestamp", "timestamp", True, []),
        ("value", "integer (bigint)", True, ["each value ≥ 0"]),
        ("quality_flag", "string", True, ["enum in [valid, warning]"]),
    ]
    html = response.content.decode()
    assert "<th>Name</th><th>Type</th><th>Required</th><th>Rules</th>" in html
    assert "<code>quality_flag</code>" in html
    assert "enum in [valid, warning]" in html


def test_the_version_page_shows_the_fingerprint_and_lint(user_client):
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events_processed")
    html = user_client.get(version_url()).content.decode()
    assert cv.fingerprint in html
    assert "lint warning" in html


def test_an_unknown_version_is_not_found(user_client):
    assert user_client.get(version_url(version="9.9.9")).status_code == 404
    assert user_client.get(reverse("contract-detail", args=["no.such.contract"])).status_code == 404


def test_the_yaml_download_round_trips(user_client):
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events_processed")
    response = user_client.get(
        reverse("contract-version-export", args=["demo.streaming.events_processed", "0.1.0", "yaml"])
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert 'filename="demo.streaming.events_processed-0.1.0.odcs.yaml"' in response["Content-Disposition"]
    parsed = odcs.parse(response.content.decode())
    assert parsed.fingerprint == cv.fingerprint
    assert parsed.document == cv.document


def test_contract_text_is_shown_escaped(user_client, editor):
    text = odcs.to_yaml(
        {
            **ContractVersion.objects.get(contract__contract_id="demo.streaming.events").document,
            "id": "xss.check",
            "name": "<b>bold</b> name",
            "description": {"purpose": "<script>alert(1)</script>"},
        }
    ).replace("description: One row per generated event.", "description: <img src=x onerror=alert(2)>")
    cv = ContractVersion.from_text(text, user=editor)
    cv.save()
    html = user_client.get(version_url("xss.check")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; name" in html
    listing = user_client.get(reverse("contract-list")).content.decode()
    assert "<b>bold</b>" not in listing


def test_contract_pages_link_to_the_datasets_they_govern(user_client):
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events_processed")
    dataset = Dataset.objects.create(name="demo.streaming.events_processed", contract=cv.contract)
    now = timezone.now()
    run = Run.objects.create(scenario="streaming-valid", requested_seconds=5, status="ok")
    batch = MicroBatch.objects.create(run=run, batch_id=1, status="ok", row_count=6, started_at=now, finished_at=now)
    DatasetVersion.objects.create(
        dataset=dataset,
        version=run.slice_version(1),
        status="ok",
        contract_version=cv,
        row_count=6,
        path="var/data/x",
        run=run,
        micro_batch=batch,
    )
    link = f'href="{dataset.get_absolute_url()}"'
    for url in (reverse("contract-list"), reverse("contract-detail", args=[cv.contract.contract_id]), version_url()):
        assert link in user_client.get(url).content.decode(), url
    assert "1 of 1 version checked against this contract version" in user_client.get(version_url()).content.decode()


def test_staff_see_a_link_to_edit_a_version_and_others_do_not(user_client, editor_client):
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events")
    edit = reverse("admin:contracts_contractversion_change", args=[cv.pk])
    assert edit in editor_client.get(version_url("demo.streaming.events")).content.decode()
    assert edit not in user_client.get(version_url("demo.streaming.events")).content.decode()


def test_contract_pages_only_answer_get(user_client):
    assert user_client.post(reverse("contract-list")).status_code == 405


def test_the_list_explains_what_to_do_when_there_are_no_contracts(admin_client):
    ContractVersion.objects.all().delete()
    Contract.objects.all().delete()
    html = admin_client.get(reverse("contract-list")).content.decode()
    assert "No contracts yet." in html
    assert reverse("admin:contracts_contractversion_add") in html


def test_a_version_built_from_text_creates_its_contract_only_when_saved(editor):
    text = ContractVersion.objects.get(contract__contract_id="demo.streaming.events").as_yaml()
    cv = ContractVersion.from_text(text.replace("id: demo.streaming.events", "id: shop.events"), user=editor)
    assert not Contract.objects.filter(contract_id="shop.events").exists()
    cv.save()
    assert Contract.objects.get(contract_id="shop.events").versions.get().created_by == editor
