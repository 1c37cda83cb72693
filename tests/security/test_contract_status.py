"""A contract version's status only moves forward, and a draft that checked data is frozen like an active one."""

import textwrap

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from contracts.models import ContractVersion
from registry.models import Dataset, DatasetVersion, MicroBatch, Run

pytestmark = pytest.mark.django_db

ORDER = ["draft", "active", "deprecated", "retired"]
FORWARD = [(a, b) for i, a in enumerate(ORDER) for b in ORDER[i + 1 :]]
BACKWARD = [(b, a) for a, b in FORWARD]


def draft(version="1.0.0", threshold=0):
    text = textwrap.dedent(
        f"""\
        apiVersion: v3.0.2
        kind: DataContract
        id: shop.orders
        version: {version}
        schema:
          - name: orders
            properties:
              - name: x
                logicalType: integer
                quality:
                  - mustBeGreaterOrEqualTo: {threshold}
        """
    )
    cv = ContractVersion.from_text(text)
    cv.save()
    return cv


def moved(cv, status):
    cv.status = status
    cv.full_clean()
    cv.save()
    return ContractVersion.objects.get(pk=cv.pk).status


@pytest.mark.parametrize(("start", "end"), FORWARD)
def test_a_status_moves_forward_even_skipping_steps(start, end):
    cv = draft()
    ContractVersion.objects.filter(pk=cv.pk).update(status=start)
    cv.refresh_from_db()
    assert moved(cv, end) == end


@pytest.mark.parametrize(("start", "end"), BACKWARD)
def test_a_status_never_moves_back(start, end):
    cv = draft()
    ContractVersion.objects.filter(pk=cv.pk).update(status=start)
    cv.refresh_from_db()
    cv.status = end
    message = f"this version is {start} and cannot go back to {end}; make a new version instead"
    with pytest.raises(ValidationError) as refused:
        cv.full_clean()
    assert refused.value.message_dict["status"] == [message]
    with pytest.raises(ValidationError, match=message):
        cv.save()
    assert ContractVersion.objects.get(pk=cv.pk).status == start


def test_the_admin_refuses_retired_back_to_active_with_the_message(editor_client):
    cv = draft()
    ContractVersion.objects.filter(pk=cv.pk).update(status="retired")
    response = editor_client.post(
        reverse("admin:contracts_contractversion_change", args=[cv.pk]),
        {"contract": cv.contract_id, "version": "1.0.0", "status": "active", "document_text": cv.as_yaml()},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["status"] == [
        "this version is retired and cannot go back to active; make a new version instead"
    ]
    assert ContractVersion.objects.get(pk=cv.pk).status == "retired"


def test_an_unused_draft_still_changes_in_place():
    cv = draft()
    cv.document["schema"][0]["properties"][0]["quality"][0]["mustBeGreaterOrEqualTo"] = 5
    cv.full_clean()
    cv.save()
    assert ContractVersion.objects.get(pk=cv.pk).document["schema"][0]["properties"][0]["quality"][0] == {
        "mustBeGreaterOrEqualTo": 5
    }


def test_a_draft_a_run_has_used_is_frozen_like_an_active_one(editor_client):
    cv = draft()
    Run.objects.create(scenario="orders-landing", requested_seconds=1, contract_version=cv, status="ok")
    before = cv.fingerprint
    changed = cv.as_yaml().replace("mustBeGreaterOrEqualTo: 0", "mustBeGreaterOrEqualTo: 5")
    response = editor_client.post(
        reverse("admin:contracts_contractversion_change", args=[cv.pk]),
        {"contract": cv.contract_id, "version": "1.0.0", "status": "draft", "document_text": changed},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["document_text"]
    assert errors == [
        "this version is a draft that runs have already used, so its document cannot change in place; "
        "give it a new version number and use 'Save as new'"
    ]
    cv.document["schema"][0]["properties"][0]["quality"][0]["mustBeGreaterOrEqualTo"] = 5
    with pytest.raises(ValidationError, match="cannot change in place"):
        cv.save()
    assert ContractVersion.objects.get(pk=cv.pk).fingerprint == before


def test_a_used_draft_may_still_move_forward():
    cv = draft()
    Run.objects.create(scenario="orders-landing", requested_seconds=1, contract_version=cv, status="ok")
    assert moved(cv, "active") == "active"


def test_a_draft_a_dataset_version_was_checked_against_is_frozen_too():
    cv = draft()
    run = Run.objects.create(scenario="orders-landing", requested_seconds=1, status="ok")
    batch = MicroBatch.objects.create(
        run=run, batch_id=0, status="ok", row_count=1, started_at=timezone.now(), finished_at=timezone.now()
    )
    DatasetVersion.objects.create(
        dataset=Dataset.objects.create(name="shop.orders"),
        version="v1",
        status="ok",
        contract_version=cv,
        row_count=1,
        path="unused",
        run=run,
        micro_batch=batch,
    )
    cv.document["schema"][0]["properties"][0]["quality"][0]["mustBeGreaterOrEqualTo"] = 5
    with pytest.raises(ValidationError) as refused:
        cv.full_clean()
    assert "a draft that runs have already used" in refused.value.message_dict["document"][0]
