"""Contract ids and versions stay inside one safe alphabet, so they never climb out of a path or break a URL."""

import textwrap

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from contracts import odcs
from contracts.identifiers import identifier_problem, validate_identifier
from contracts.models import Contract, ContractVersion

SAFE = ["demo.streaming.events", "0.1.0", "1.0.0-rc1", "orders_v2", "A-b.C_9"]
UNSAFE = ["evil/../x", "..", "a..b", "../etc", "a/b", "a b", "a\\b", "é", "a%2Fb", "", "x\n"]


def document(contract_id="shop.orders", version="1.0.0"):
    return textwrap.dedent(
        f"""\
        apiVersion: v3.0.2
        kind: DataContract
        id: "{contract_id}"
        version: "{version}"
        schema:
          - name: orders
            properties:
              - name: x
                logicalType: integer
        """
    )


@pytest.mark.parametrize("value", SAFE)
def test_letters_digits_dots_dashes_and_underscores_are_safe(value):
    assert identifier_problem(value) is None
    validate_identifier(value)


@pytest.mark.parametrize("value", UNSAFE)
def test_anything_else_or_a_double_dot_is_refused(value):
    assert identifier_problem(value)
    with pytest.raises(ValidationError):
        validate_identifier(value)


def test_a_document_with_an_unsafe_id_is_refused_with_the_reason():
    with pytest.raises(odcs.ContractInvalid) as refused:
        odcs.parse(document(contract_id="evil/../x"))
    assert [p.path for p in refused.value.problems] == ["id"]
    assert "'evil/../x' is not a safe identifier" in str(refused.value)


def test_a_document_with_an_unsafe_version_is_refused_with_the_reason():
    with pytest.raises(odcs.ContractInvalid, match=r"version: '1\.0/\.\./2' is not a safe identifier"):
        odcs.parse(document(version="1.0/../2"))


@pytest.mark.django_db
def test_the_model_fields_refuse_unsafe_values():
    with pytest.raises(ValidationError) as refused:
        Contract(contract_id="evil/../x").full_clean()
    assert "contract_id" in refused.value.message_dict


@pytest.mark.django_db
def test_the_admin_refuses_an_unsafe_id_and_the_contract_list_still_renders(editor_client, demo_contracts):
    response = editor_client.post(
        reverse("admin:contracts_contractversion_add"),
        {"contract": "", "version": "", "status": "draft", "document_text": document("evil/../x"), "_save": "Save"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["document_text"]
    assert any("'evil/../x' is not a safe identifier" in e for e in errors), errors
    response = editor_client.post(
        reverse("admin:contracts_contract_add"), {"contract_id": "evil/../x", "name": "", "_save": "Save"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["contract_id"]
    assert not Contract.objects.filter(contract_id__contains="/").exists()
    assert editor_client.get("/contracts/").status_code == 200


@pytest.mark.django_db
def test_renaming_a_contract_that_has_versions_is_refused_with_a_message(editor_client, demo_contracts):
    contract = Contract.objects.get(contract_id="demo.streaming.events")
    response = editor_client.post(
        reverse("admin:contracts_contract_change", args=[contract.pk]),
        {
            "contract_id": "demo.streaming.renamed",
            "name": contract.name,
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "1000",
            "versions-0-id": str(contract.versions.get().pk),
            "versions-0-contract": str(contract.pk),
            "_save": "Save",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["contract_id"]
    assert errors == [
        "this contract has versions under the id 'demo.streaming.events', so it cannot be renamed; "
        "import a new contract instead"
    ]
    assert Contract.objects.filter(contract_id="demo.streaming.events").exists()
    contract.contract_id = "demo.streaming.renamed"
    with pytest.raises(ValidationError, match="cannot be renamed"):
        contract.save()


@pytest.mark.django_db
def test_a_contract_without_versions_may_still_be_renamed():
    contract = Contract.objects.create(contract_id="acme.invoices")
    contract.contract_id = "acme.invoices_v2"
    contract.full_clean()
    contract.save()
    assert Contract.objects.get(pk=contract.pk).contract_id == "acme.invoices_v2"
    assert not ContractVersion.objects.filter(contract=contract).exists()
