"""Semver on save: Save as new and import_contracts refuse a bump smaller than the changes need; a forced save is recorded."""

import json
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from contracts import odcs
from contracts.models import ContractVersion, ForcedVersion

pytestmark = pytest.mark.django_db


def events(version, **changes):
    """demo.streaming.events at `version`, with the value column changed as given."""
    document = ContractVersion.objects.get(contract__contract_id="demo.streaming.events", version="0.1.0").document
    document = json.loads(json.dumps(document))
    document["version"] = version
    document["schema"][0]["properties"][1].update(changes)
    return odcs.to_yaml(document)


def save_as_new(client, text, version, **extra):
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events", version="0.1.0")
    data = {"contract": cv.contract.pk, "version": version, "status": "draft", "document_text": text, "_saveasnew": "1"}
    data.update(extra)
    return client.post(reverse("admin:contracts_contractversion_change", args=[cv.pk]), data)


def errors_of(response):
    assert response.status_code == 200, "a refused form is shown again"
    return [m for messages in response.context["adminform"].form.errors.values() for m in messages]


@pytest.fixture
def staff_without_force(django_user_model):
    person = django_user_model.objects.create_user(username="plain-editor", password="pw", is_staff=True)
    person.user_permissions.set(
        Permission.objects.filter(content_type__app_label="contracts").exclude(codename="force_version")
    )
    client = Client()
    client.force_login(person)
    return client


def test_save_as_new_refuses_a_breaking_change_numbered_as_a_minor_bump_and_lists_it(editor_client, demo_contracts):
    # Below 1.0.0 the minor number is the breaking one: 0.1.0 -> 0.1.1 is a minor bump.
    response = save_as_new(editor_client, events("0.1.1", logicalType="string"), "0.1.1")
    errors = errors_of(response)
    assert errors[0].startswith(
        "Refused: 0.1.0 -> 0.1.1 is a minor bump; the changes since active version 0.1.0 need major"
    )
    assert (
        "Refused: breaking: schema.events.properties.value.logicalType: type changed incompatibly: integer -> string"
        in errors
    )
    assert not ContractVersion.objects.filter(version="0.1.1").exists()


def test_save_as_new_accepts_a_bump_big_enough(editor_client, demo_contracts):
    response = save_as_new(editor_client, events("0.2.0", logicalType="string"), "0.2.0")
    assert response.status_code == 302
    assert ContractVersion.objects.filter(version="0.2.0").exists()
    assert not ForcedVersion.objects.exists()


def test_a_non_breaking_change_needs_only_a_minor_bump(editor_client, demo_contracts):
    response = save_as_new(editor_client, events("0.1.1", logicalType="number"), "0.1.1")
    assert response.status_code == 302


def test_forcing_needs_the_permission(staff_without_force, demo_contracts):
    response = save_as_new(
        staff_without_force,
        events("0.1.1", required=False, logicalType="string"),
        "0.1.1",
        force="on",
        force_reason="x",
    )
    assert "you may not force a version past the semver check (permission force_version)" in errors_of(response)
    assert not ContractVersion.objects.filter(version="0.1.1").exists()


def test_forcing_needs_a_reason(editor_client, demo_contracts):
    response = save_as_new(editor_client, events("0.1.1", logicalType="string"), "0.1.1", force="on", force_reason=" ")
    assert "a reason is required to force a version past the semver check" in errors_of(response)
    assert not ContractVersion.objects.filter(version="0.1.1").exists()


def test_a_forced_save_is_recorded_logged_and_shown(editor_client, editor, demo_contracts):
    reason = "the column was always a string upstream; no consumer reads it as a number"
    response = save_as_new(
        editor_client, events("0.1.1", logicalType="string"), "0.1.1", force="on", force_reason=reason
    )
    assert response.status_code == 302
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events", version="0.1.1")
    forced = cv.forced
    assert (forced.reason, forced.forced_by, forced.via) == (reason, editor, "admin")
    assert (forced.previous, forced.made_bump, forced.required_bump) == ("0.1.0", "minor", "major")
    assert forced.breaking[0]["path"] == "schema.events.properties.value.logicalType"
    messages = [entry.get_change_message() for entry in LogEntry.objects.filter(object_id=str(cv.pk))]
    assert any(m.startswith("Forced past the semver check") and reason in m for m in messages), messages
    assert reason in editor_client.get(cv.get_absolute_url()).content.decode()
    assert reason in editor_client.get(reverse("admin:contracts_contractversion_change", args=[cv.pk])).content.decode()


def test_the_check_compares_with_the_newest_active_version_below_the_new_one(editor_client, demo_contracts):
    draft = ContractVersion.from_text(events("0.2.0", logicalType="string"), status="draft")
    draft.save()  # a draft is not what consumers use: 0.1.0 stays the reference
    assert (
        ContractVersion(contract=draft.contract, version="0.1.1", document=draft.document).previous_active().version
        == "0.1.0"
    )


# --- import_contracts ---


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_refuses_a_too_small_bump_and_saves_nothing(tmp_path, demo_contracts):
    path = write(tmp_path, "events.yaml", events("0.1.1", logicalType="string"))
    with pytest.raises(CommandError) as caught:
        call_command("import_contracts", str(path), stdout=StringIO())
    assert caught.value.returncode == 2
    assert "0.1.0 -> 0.1.1 is a minor bump" in str(caught.value)
    assert "breaking: schema.events.properties.value.logicalType" in str(caught.value)
    assert not ContractVersion.objects.filter(version="0.1.1").exists()


def test_import_with_force_and_a_reason_saves_and_records_it(tmp_path, demo_contracts):
    path = write(tmp_path, "events.yaml", events("0.1.1", logicalType="string"))
    out = StringIO()
    call_command("import_contracts", str(path), "--force", "--reason", "migrating old data", stdout=out)
    assert out.getvalue().startswith("forced: demo.streaming.events 0.1.1")
    forced = ForcedVersion.objects.get(version__version="0.1.1")
    assert (forced.reason, forced.forced_by, forced.via) == ("migrating old data", None, "command")


def test_import_with_force_but_no_reason_is_refused(tmp_path, demo_contracts):
    path = write(tmp_path, "events.yaml", events("0.1.1", logicalType="string"))
    with pytest.raises(CommandError, match="--force needs --reason"):
        call_command("import_contracts", str(path), "--force", stdout=StringIO())
    assert not ContractVersion.objects.filter(version="0.1.1").exists()
