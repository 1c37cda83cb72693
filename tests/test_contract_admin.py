"""Editing contract versions in the admin: validation on save, attribution, and the active-version guard."""

import textwrap

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.urls import reverse

from contracts import odcs
from contracts.models import Contract, ContractVersion

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:contracts_contractversion_add")


def contract_text(contract_id="demo.streaming.events", version="0.2.0", logical="integer", extra=""):
    return (
        textwrap.dedent(
            f"""\
        apiVersion: v3.0.2
        kind: DataContract
        id: {contract_id}
        name: Demo streaming events
        version: {version}
        status: draft
        schema:
          - name: events
            properties:
              - name: timestamp
                logicalType: date
                required: true
              - name: value
                logicalType: {logical}
                required: true
                quality:
                  - rule: nonNegative
                    mustBeGreaterOrEqualTo: 0
        """
        )
        + extra
    )


def change_url(cv):
    return reverse("admin:contracts_contractversion_change", args=[cv.pk])


def demo_version(contract_id="demo.streaming.events"):
    return ContractVersion.objects.get(contract__contract_id=contract_id, version="0.1.0")


def post_new(client, text, *, version="0.2.0", contract="", status="draft", **extra):
    data = {"contract": contract, "version": version, "status": status, "document_text": text, "_save": "Save"}
    data.update(extra)
    return client.post(ADD_URL, data)


def counts():
    return Contract.objects.count(), ContractVersion.objects.count(), LogEntry.objects.count()


def errors_of(response):
    """Every error message the admin form shows, as plain text."""
    assert response.status_code == 200, "a refused form is shown again, not redirected"
    form = response.context["adminform"].form
    return [message for messages in form.errors.values() for message in messages]


def test_the_add_page_offers_a_large_document_text_area(editor_client):
    response = editor_client.get(ADD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="document_text"' in html
    assert 'rows="36"' in html


def test_a_valid_new_version_is_saved_and_attributed_to_the_editor(editor_client, editor):
    response = post_new(editor_client, contract_text())
    assert response.status_code == 302
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events", version="0.2.0")
    assert cv.created_by == editor
    assert cv.status == "draft"
    assert cv.api_version == "v3.0.2"
    assert cv.fingerprint == odcs.parse(contract_text()).fingerprint
    entry = LogEntry.objects.get(object_id=str(cv.pk))
    assert entry.user == editor
    assert entry.action_flag == ADDITION


def test_a_new_contract_id_creates_the_contract(editor_client):
    response = post_new(editor_client, contract_text(contract_id="acme.orders", version="1.0.0"), version="1.0.0")
    assert response.status_code == 302
    contract = Contract.objects.get(contract_id="acme.orders")
    assert contract.name == "Demo streaming events"
    assert list(contract.versions.values_list("version", flat=True)) == ["1.0.0"]


def test_a_json_document_is_accepted(editor_client):
    text = odcs.canonical_json(odcs.parse(contract_text()).document)
    assert post_new(editor_client, text).status_code == 302
    assert ContractVersion.objects.filter(version="0.2.0").exists()


def test_the_version_may_be_left_to_the_document(editor_client):
    assert post_new(editor_client, contract_text(), version="").status_code == 302
    assert ContractVersion.objects.filter(contract__contract_id="demo.streaming.events", version="0.2.0").exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("apiVersion: v3.0.2\nschema: [\n  - name: x\n", "malformed YAML at line"),
        (
            "apiVersion: v3.0.2\nkind: DataContract\nid: demo.streaming.events\nversion: 0.2.0\nstatus: draft\n",
            "schema: is required",
        ),
        (contract_text(logical="datetime"), "unknown logicalType 'datetime'"),
        (contract_text(extra="colour: blue\n"), "colour: is not an ODCS field"),
    ],
    ids=["malformed-yaml", "missing-schema", "unknown-logical-type", "unknown-field"],
)
def test_a_refused_document_shows_the_reason_and_saves_nothing(editor_client, text, reason):
    before = counts()
    response = post_new(editor_client, text)
    errors = errors_of(response)
    assert any(reason in error for error in errors), errors
    assert reason in response.content.decode().replace("&#x27;", "'")
    assert counts() == before


def test_a_version_field_that_disagrees_with_the_document_is_refused(editor_client):
    before = counts()
    response = post_new(editor_client, contract_text(version="0.2.0"), version="0.3.0")
    assert errors_of(response) == ["the document says version '0.2.0', the version field says '0.3.0'"]
    assert counts() == before


def test_a_contract_field_that_disagrees_with_the_document_id_is_refused(editor_client):
    before = counts()
    other = Contract.objects.get(contract_id="demo.streaming.events_rejects")
    response = post_new(editor_client, contract_text(), contract=other.pk)
    assert errors_of(response) == [
        "the document's id 'demo.streaming.events' does not match the contract 'demo.streaming.events_rejects'"
    ]
    assert counts() == before


def test_a_refused_document_of_a_new_contract_creates_no_contract(editor_client):
    before = counts()
    post_new(editor_client, contract_text(contract_id="acme.orders", logical="datetime"))
    post_new(editor_client, contract_text(contract_id="acme.orders"), version="9.9.9")
    assert counts() == before
    assert not Contract.objects.filter(contract_id="acme.orders").exists()


def test_an_existing_version_number_is_refused(editor_client):
    before = counts()
    text = contract_text(version="0.1.0")
    response = post_new(editor_client, text, version="0.1.0")
    assert any("already exists" in error for error in errors_of(response))
    assert counts() == before


def test_lint_warnings_are_shown_as_warnings_and_the_version_is_saved(editor_client):
    text = contract_text().replace("  - rule: nonNegative\n", "  - ").replace("apiVersion: v3.0.2", "apiVersion: 3.0.2")
    response = post_new(editor_client, text)
    assert response.status_code == 302
    cv = ContractVersion.objects.get(version="0.2.0", contract__contract_id="demo.streaming.events")
    assert len(cv.lint) == 2
    shown = [(m.level_tag, m.message) for m in response.wsgi_request._messages]
    assert any(
        level == "warning" and text.startswith("Lint: apiVersion: '3.0.2' is not one of") for level, text in shown
    )
    page = editor_client.get(change_url(cv)).content.decode()
    assert "&#x27;rule&#x27; is a required property (v3.0.2 schema)" in page


def test_the_change_page_shows_the_stored_document_as_yaml(editor_client):
    cv = demo_version()
    response = editor_client.get(change_url(cv))
    assert response.status_code == 200
    text = response.context["adminform"].form.initial["document_text"]
    assert odcs.parse(text).fingerprint == cv.fingerprint


def test_an_active_version_cannot_change_its_document_in_place(editor_client):
    cv = demo_version()
    before = (cv.fingerprint, cv.document, counts())
    text = cv.as_yaml().replace("Counters never go negative.", "Counters are never negative.")
    response = editor_client.post(
        change_url(cv), {"contract": cv.contract_id, "version": "0.1.0", "status": "active", "document_text": text}
    )
    errors = errors_of(response)
    assert any("this version is active, so its document cannot change in place" in e for e in errors), errors
    cv.refresh_from_db()
    assert (cv.fingerprint, cv.document, counts()) == before


def test_an_active_version_cannot_change_its_document_while_leaving_active(editor_client):
    cv = demo_version()
    text = cv.as_yaml().replace("Counters never go negative.", "Changed.")
    response = editor_client.post(
        change_url(cv), {"contract": cv.contract_id, "version": "0.1.0", "status": "draft", "document_text": text}
    )
    assert errors_of(response)
    cv.refresh_from_db()
    assert cv.status == "active"


def test_an_active_version_can_be_deprecated(editor_client, editor):
    cv = demo_version()
    fingerprint = cv.fingerprint
    response = editor_client.post(
        change_url(cv),
        {"contract": cv.contract_id, "version": "0.1.0", "status": "deprecated", "document_text": cv.as_yaml()},
    )
    assert response.status_code == 302
    cv.refresh_from_db()
    assert cv.status == "deprecated"
    assert cv.fingerprint == fingerprint
    entry = LogEntry.objects.get(object_id=str(cv.pk), action_flag=CHANGE)
    assert entry.user == editor
    assert "Status" in entry.get_change_message()


def test_save_as_new_turns_an_edit_of_an_active_version_into_a_new_version(editor_client, editor):
    cv = demo_version()
    text = (
        cv.as_yaml()
        .replace("version: 0.1.0", "version: 0.2.0")
        .replace("Counters never go negative.", "Never negative.")
    )
    response = editor_client.post(
        change_url(cv),
        {
            "contract": cv.contract_id,
            "version": "0.2.0",
            "status": "draft",
            "document_text": text,
            "_saveasnew": "Save as new",
        },
    )
    assert response.status_code == 302
    new = ContractVersion.objects.get(contract=cv.contract, version="0.2.0")
    assert new.pk != cv.pk
    assert new.created_by == editor
    assert new.status == "draft"
    assert "Never negative." in new.as_yaml()
    old = demo_version()
    assert old.fingerprint == cv.fingerprint
    assert old.status == "active"
    assert LogEntry.objects.get(object_id=str(new.pk)).action_flag == ADDITION


def test_save_as_new_keeping_the_same_version_number_is_refused(editor_client):
    cv = demo_version()
    before = counts()
    response = editor_client.post(
        change_url(cv),
        {
            "contract": cv.contract_id,
            "version": "0.1.0",
            "status": "draft",
            "document_text": cv.as_yaml(),
            "_saveasnew": "1",
        },
    )
    assert any("already exists" in error for error in errors_of(response))
    assert counts() == before


def test_a_draft_can_be_edited_in_place(editor_client, editor):
    post_new(editor_client, contract_text())
    cv = ContractVersion.objects.get(version="0.2.0", contract__contract_id="demo.streaming.events")
    text = contract_text().replace("name: Demo streaming events", "name: Renamed events")
    response = editor_client.post(
        change_url(cv), {"contract": cv.contract_id, "version": "0.2.0", "status": "draft", "document_text": text}
    )
    assert response.status_code == 302
    cv.refresh_from_db()
    assert cv.document["name"] == "Renamed events"
    assert cv.fingerprint == odcs.parse(text).fingerprint
    assert cv.created_by == editor


def test_a_draft_can_be_activated(editor_client):
    post_new(editor_client, contract_text())
    cv = ContractVersion.objects.get(version="0.2.0", contract__contract_id="demo.streaming.events")
    response = editor_client.post(
        change_url(cv),
        {"contract": cv.contract_id, "version": "0.2.0", "status": "active", "document_text": cv.as_yaml()},
    )
    assert response.status_code == 302
    cv.refresh_from_db()
    assert cv.status == "active"


def test_the_version_list_can_be_searched_and_filtered(editor_client):
    url = reverse("admin:contracts_contractversion_changelist")
    found = editor_client.get(url, {"q": "events_rejects"})
    assert [str(cv) for cv in found.context["cl"].result_list] == ["demo.streaming.events_rejects 0.1.0"]
    by_content = editor_client.get(url, {"q": "reject_reasons"})
    assert [str(cv) for cv in by_content.context["cl"].result_list] == [
        "demo.streaming.events_rejects 0.1.0",
        "shop.orders_rejects 0.1.0",
    ]
    active = editor_client.get(url, {"status__exact": "active"})
    assert active.context["cl"].result_count == 6
    drafts = editor_client.get(url, {"status__exact": "draft"})
    assert drafts.context["cl"].result_count == 0


def test_the_contract_list_can_be_searched(editor_client):
    url = reverse("admin:contracts_contract_changelist")
    found = editor_client.get(url, {"q": "processed"})
    assert [c.contract_id for c in found.context["cl"].result_list] == ["demo.streaming.events_processed"]


def test_an_active_version_cannot_be_deleted(admin_client):
    cv = demo_version()
    response = admin_client.post(reverse("admin:contracts_contractversion_delete", args=[cv.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert ContractVersion.objects.filter(pk=cv.pk).exists()


def test_a_draft_can_be_deleted(admin_client):
    post_new(admin_client, contract_text())
    cv = ContractVersion.objects.get(version="0.2.0", contract__contract_id="demo.streaming.events")
    response = admin_client.post(reverse("admin:contracts_contractversion_delete", args=[cv.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not ContractVersion.objects.filter(pk=cv.pk).exists()


def test_a_person_who_is_not_staff_cannot_reach_the_contract_admin(user_client):
    response = user_client.get(ADD_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_active_version_cannot_go_back_to_draft(editor_client):
    cv = demo_version()
    response = editor_client.post(
        change_url(cv),
        {"contract": cv.contract_id, "version": "0.1.0", "status": "draft", "document_text": cv.as_yaml()},
    )
    assert errors_of(response) == ["this version is active and cannot go back to draft; make a new version instead"]
    cv.refresh_from_db()
    assert cv.status == "active"


def test_a_deprecated_version_keeps_its_document_too(editor_client):
    cv = demo_version()
    ContractVersion.objects.filter(pk=cv.pk).update(status="deprecated")
    text = cv.as_yaml().replace("Counters never go negative.", "Changed.")
    response = editor_client.post(
        change_url(cv), {"contract": cv.contract_id, "version": "0.1.0", "status": "deprecated", "document_text": text}
    )
    assert errors_of(response) == [
        "this version is deprecated, so its document cannot change in place; "
        "give it a new version number and use 'Save as new'"
    ]


def test_saving_a_changed_active_document_outside_the_admin_is_refused_too():
    from django.core.exceptions import ValidationError

    cv = demo_version()
    cv.document = {**cv.document, "name": "Changed behind the admin's back"}
    with pytest.raises(ValidationError, match="cannot change in place"):
        cv.save()
    cv.refresh_from_db()
    assert cv.document["name"] == "Demo streaming events"


def test_the_change_page_of_an_active_version_explains_how_to_change_it(editor_client):
    html = editor_client.get(change_url(demo_version())).content.decode()
    assert "This version is active: its document cannot change in place" in html
    assert "Save as new" in html
