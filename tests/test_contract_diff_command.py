"""`manage.py contract_diff ID FROM TO [--json]`."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contracts.models import ContractVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(demo_contracts):
    document = ContractVersion.objects.get(contract__contract_id="shop.orders", version="0.1.0").document
    document = json.loads(json.dumps(document))
    document["version"] = "0.2.0"
    document["schema"][0]["properties"][1]["logicalType"] = "integer"
    document["description"]["usage"] = "Reworded."
    ContractVersion.from_text(json.dumps(document)).save()


def diff(*args):
    out = StringIO()
    call_command("contract_diff", *args, stdout=out)
    return out.getvalue()


def test_json_is_the_issues_shape(two_versions):
    assert json.loads(diff("shop.orders", "0.1.0", "0.2.0", "--json")) == {
        "contract": "shop.orders",
        "from": "0.1.0",
        "to": "0.2.0",
        "changes": [
            {
                "path": "schema.orders.properties.amount.logicalType",
                "change": "type narrowed: number -> integer",
                "class": "breaking",
            },
            {"path": "description", "change": "description changed", "class": "info"},
        ],
        "required_bump": "major",
    }


def test_text_lists_one_change_a_line_and_the_bump(two_versions):
    lines = diff("shop.orders", "0.1.0", "0.2.0").splitlines()
    assert lines == [
        "breaking     schema.orders.properties.amount.logicalType: type narrowed: number -> integer",
        "info         description: description changed",
        "required bump: major",
    ]


def test_a_version_with_itself_is_identical(two_versions):
    assert diff("shop.orders", "0.2.0", "0.2.0") == "identical\nrequired bump: none\n"


def test_an_unknown_version_is_an_error(two_versions):
    with pytest.raises(CommandError, match="has no version '9.0.0'"):
        diff("shop.orders", "0.1.0", "9.0.0")
