"""The diff page between two versions of a contract, and the links to it."""

import json

import pytest
from django.urls import reverse

from contracts.models import ContractVersion
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


def add_version(version, status="draft", **amount):
    document = ContractVersion.objects.get(contract__contract_id="shop.orders", version="0.1.0").document
    document = json.loads(json.dumps(document))
    document["version"] = version
    document["schema"][0]["properties"][1].update(amount)
    cv = ContractVersion.from_text(json.dumps(document), status=status)
    cv.save()
    return cv


def page(client, old, new):
    return client.get(reverse("contract-diff", args=["shop.orders", old, new]))


def test_the_page_lists_each_change_with_its_class_and_the_required_bump(user_client, demo_contracts):
    add_version("0.2.0", logicalType="integer")
    response = page(user_client, "0.1.0", "0.2.0")
    assert response.status_code == 200
    html = response.content.decode()
    assert "schema.orders.properties.amount.logicalType" in html
    assert "type narrowed: number -&gt; integer" in html
    assert 'data-required-bump="major"' in html
    assert "enough" in html


def test_the_page_says_when_the_bump_is_too_small(user_client, demo_contracts):
    add_version("0.1.1", logicalType="integer")
    assert "too small" in page(user_client, "0.1.0", "0.1.1").content.decode()


def test_the_page_lists_the_pipelines_and_whether_their_range_picks_the_version_up(user_client, demo_contracts):
    add_version("1.0.0", status="active")
    add_version("2.0.0", logicalType="integer")
    Pipeline.objects.filter(key="orders-landing").update(output_contract="shop.orders@^1")
    rows = page(user_client, "1.0.0", "2.0.0").context["pipelines"]
    assert [(r["pipeline"].key, r["role"], r["ref"], r["current"].version, r["picks_up"]) for r in rows] == [
        ("orders-landing", "output", "shop.orders@^1", "1.0.0", False)
    ]
    Pipeline.objects.filter(key="orders-landing").update(output_contract="shop.orders")
    rows = page(user_client, "1.0.0", "2.0.0").context["pipelines"]
    assert rows[0]["picks_up"] is True
    assert "yes, once 2.0.0 is active" in page(user_client, "1.0.0", "2.0.0").content.decode()


def test_an_unknown_version_is_not_found(user_client, demo_contracts):
    assert page(user_client, "0.1.0", "9.9.9").status_code == 404


def test_the_contract_page_links_each_version_to_its_diff_and_offers_a_compare_form(user_client, demo_contracts):
    add_version("0.2.0", logicalType="integer")
    html = user_client.get(reverse("contract-detail", args=["shop.orders"])).content.decode()
    assert reverse("contract-diff", args=["shop.orders", "0.1.0", "0.2.0"]) in html
    assert 'name="from"' in html and 'name="to"' in html
    response = user_client.get(reverse("contract-detail", args=["shop.orders"]), {"from": "0.2.0", "to": "0.1.0"})
    assert response.status_code == 302
    assert response["Location"] == reverse("contract-diff", args=["shop.orders", "0.2.0", "0.1.0"])


def test_each_version_in_the_admin_links_to_its_diff(editor_client, demo_contracts):
    cv = add_version("0.2.0", logicalType="integer")
    url = reverse("contract-diff", args=["shop.orders", "0.1.0", "0.2.0"])
    assert url in editor_client.get(reverse("admin:contracts_contractversion_change", args=[cv.pk])).content.decode()
    assert url in editor_client.get(reverse("admin:contracts_contractversion_changelist")).content.decode()
    assert url in editor_client.get(reverse("admin:contracts_contract_change", args=[cv.contract.pk])).content.decode()
