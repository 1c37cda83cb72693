"""Registry records are evidence: even a superuser can only look at them in the admin."""

import pytest
from django.urls import reverse
from django.utils import timezone

from contracts.models import ContractVersion
from registry.models import Dataset, DatasetVersion, MicroBatch, Run, RunEvent

pytestmark = pytest.mark.django_db

MODELS = [Run, MicroBatch, Dataset, DatasetVersion, RunEvent]


@pytest.fixture
def records():
    now = timezone.now()
    contract_version = ContractVersion.objects.get(contract__contract_id="demo.streaming.events_processed")
    run = Run.objects.create(scenario="streaming-valid", requested_seconds=5, status="ok", reason="all good")
    batch = MicroBatch.objects.create(run=run, batch_id=1, status="ok", row_count=6, started_at=now, finished_at=now)
    dataset = Dataset.objects.create(name="demo.streaming.events_processed", contract=contract_version.contract)
    version = DatasetVersion.objects.create(
        dataset=dataset,
        version=run.slice_version(1),
        status="ok",
        contract_version=contract_version,
        row_count=6,
        path="var/data/x",
        run=run,
        micro_batch=batch,
    )
    event = run.log("started", {"scenario": "streaming-valid"})
    return {Run: run, MicroBatch: batch, Dataset: dataset, DatasetVersion: version, RunEvent: event}


def admin_url(model, view, *args):
    return reverse(f"admin:registry_{model._meta.model_name}_{view}", args=args)


def counts():
    return [model.objects.count() for model in MODELS]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_list_is_shown_without_an_add_button(admin_client, records, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert not response.context["has_add_permission"]
    assert admin_url(model, "add").encode() not in response.content


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_record_is_shown_read_only(admin_client, records, model):
    obj = records[model]
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert not response.context["has_delete_permission"]
    assert b'name="_save"' not in response.content
    assert admin_url(model, "delete", obj.pk).encode() not in response.content


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_adding_is_refused(admin_client, records, model):
    before = counts()
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "add"), {}).status_code == 403
    assert counts() == before


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changing_is_refused(admin_client, records, model):
    obj = records[model]
    before = model.objects.filter(pk=obj.pk).values().get()
    response = admin_client.post(
        admin_url(model, "change", obj.pk), {"status": "failed", "name": "renamed", "kind": "x"}
    )
    assert response.status_code == 403
    assert model.objects.filter(pk=obj.pk).values().get() == before


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_deleting_is_refused(admin_client, records, model):
    obj = records[model]
    before = counts()
    assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert counts() == before


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_bulk_delete_action_is_not_offered(admin_client, records, model):
    before = counts()
    response = admin_client.post(
        admin_url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [records[model].pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert counts() == before


def test_runs_can_be_searched_and_filtered(admin_client, records):
    Run.objects.create(
        scenario="streaming-schema-break", requested_seconds=3, status="blocked", reason="value is missing"
    )
    url = admin_url(Run, "changelist")
    assert admin_client.get(url, {"status__exact": "blocked"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": "missing"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"scenario__exact": "streaming-valid"}).context["cl"].result_count == 1


def test_dataset_versions_can_be_filtered_by_contract_version(admin_client, records):
    url = admin_url(DatasetVersion, "changelist")
    cv = records[DatasetVersion].contract_version
    assert admin_client.get(url, {"contract_version__id__exact": cv.pk}).context["cl"].result_count == 1


def test_a_run_shows_its_batches_and_events(admin_client, records):
    run = records[Run]
    response = admin_client.get(admin_url(Run, "change", run.pk))
    html = response.content.decode()
    assert admin_url(MicroBatch, "change", records[MicroBatch].pk) in html
    assert "started" in html
    assert b'name="batches-0-status"' not in response.content


def test_registry_records_can_be_searched(admin_client, records):
    run = records[Run]
    assert admin_client.get(admin_url(DatasetVersion, "changelist"), {"q": str(run.id)}).context["cl"].result_count == 1
    assert admin_client.get(admin_url(Dataset, "changelist"), {"q": "events_processed"}).context["cl"].result_count == 1
    assert (
        admin_client.get(admin_url(MicroBatch, "changelist"), {"run__scenario": "streaming-valid"})
        .context["cl"]
        .result_count
        == 1
    )


def test_a_long_run_shows_its_newest_batches_and_links_to_all_of_them(admin_client, records):
    run, now = records[Run], timezone.now()
    MicroBatch.objects.bulk_create(
        MicroBatch(run=run, batch_id=i, status="ok", row_count=6, started_at=now, finished_at=now) for i in range(2, 80)
    )
    html = admin_client.get(admin_url(Run, "change", run.pk)).content.decode()
    assert "79 micro-batches" in html
    assert ">batch 79<" in html and ">batch 29<" not in html  # the newest 50 only
    every = admin_client.get(admin_url(MicroBatch, "changelist"), {"run__id__exact": str(run.pk)})
    assert every.context["cl"].result_count == 79
