"""Hostile contract documents are refused quickly, with a reason, wherever a contract comes in."""

import json
import time
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from contracts import odcs
from contracts.models import ContractVersion

ALIASES = "YAML aliases are not allowed in contracts"
# Nine levels of nine aliases: expanded, it is 387 million strings.
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
VALID = """\
apiVersion: v3.0.2
kind: DataContract
id: shop.orders
version: 1.0.0
schema:
  - name: orders
    properties:
      - name: x
        logicalType: integer
"""


def refusal(text):
    with pytest.raises(odcs.ContractInvalid) as refused:
        odcs.parse(text)
    return str(refused.value)


def test_the_billion_laughs_document_is_refused_at_once_not_expanded():
    started = time.monotonic()
    assert refusal(BILLION_LAUGHS) == ALIASES
    assert time.monotonic() - started < 0.5


def test_an_anchor_alone_is_refused_too():
    assert refusal(VALID + "x-note: &note hello\n") == ALIASES


def test_a_document_over_one_megabyte_is_refused():
    assert refusal(VALID + "description: " + "x" * (1024 * 1024) + "\n") == "the document is larger than 1024 KB"


def test_yaml_nested_deeper_than_64_is_refused():
    assert refusal(VALID + "x: " + "[" * 65 + "]" * 65 + "\n") == "the document nests deeper than 64 levels"
    # 64 levels are fine for the loader (the document is then judged on its fields).
    assert "nests" not in refusal(VALID + "x: " + "[" * 62 + "]" * 62 + "\n")


@pytest.mark.parametrize("depth", [65, 100_000])
def test_json_nested_deeper_than_64_is_refused_without_recursing(depth):
    text = '{"x": ' + "[" * depth + "]" * depth + "}"
    assert refusal(text) == "the document nests deeper than 64 levels"


def test_brackets_inside_json_strings_are_not_nesting():
    document = {**odcs.load_text(VALID), "name": "[[[[" * 40 + '\\"{{{{' * 40}
    assert odcs.parse(json.dumps(document)).contract_id == "shop.orders"


def test_a_deep_document_built_in_python_is_refused_not_a_recursion_error():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    document = {**odcs.load_text(VALID), "customProperties": [{"property": "deep", "value": deep}]}
    with pytest.raises(odcs.ContractInvalid, match="the document nests deeper than 64 levels"):
        odcs.validate(document)


@pytest.mark.django_db
def test_a_deep_document_saved_from_python_is_a_validation_error(demo_contracts):
    deep = []
    for _ in range(100_000):
        deep = [deep]
    cv = ContractVersion.objects.get(contract__contract_id="demo.streaming.events", version="0.1.0")
    cv.pk, cv.version = None, "0.2.0"
    cv.document = {**cv.document, "version": "0.2.0", "customProperties": [{"property": "deep", "value": deep}]}
    with pytest.raises(ValidationError, match="nests deeper than 64 levels"):
        cv.save()


def test_from_text_refuses_aliases():
    with pytest.raises(odcs.ContractInvalid, match=ALIASES):
        ContractVersion.from_text(BILLION_LAUGHS)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BILLION_LAUGHS, ALIASES),
        ('{"x": ' + "[" * 5000 + "]" * 5000 + "}", "nests deeper than 64 levels"),
        (VALID + "description: " + "x" * (1024 * 1024) + "\n", "larger than 1024 KB"),
    ],
    ids=["aliases", "deep-json", "large"],
)
def test_the_admin_shows_the_refusal_on_the_form(editor_client, text, reason):
    before = ContractVersion.objects.count()
    response = editor_client.post(
        reverse("admin:contracts_contractversion_add"),
        {"contract": "", "version": "", "status": "draft", "document_text": text, "_save": "Save"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["document_text"]
    assert any(reason in e for e in errors), errors
    assert ContractVersion.objects.count() == before


@pytest.mark.django_db
def test_validate_data_refuses_a_contract_file_with_aliases_as_bad_input(tmp_path):
    contract = tmp_path / "laughs.yaml"
    contract.write_text(BILLION_LAUGHS)
    with pytest.raises(CommandError) as refused:
        call_command(
            "validate_data", "--contract-file", str(contract), str(tmp_path / "data.parquet"), stdout=StringIO()
        )
    assert refused.value.returncode == 2
    assert ALIASES in str(refused.value)


@pytest.mark.django_db
def test_validate_data_reads_no_more_than_the_limit_of_a_contract_file(tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("validate_data", "--contract-file", "/dev/zero", str(tmp_path / "data.parquet"), stdout=StringIO())
    assert refused.value.returncode == 2
    assert "larger than 1024 KB" in str(refused.value)
