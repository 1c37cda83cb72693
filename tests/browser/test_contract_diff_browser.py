"""The contract diff page in Chromium: from the contract page, by link and by the compare form."""

import json

import pytest
from browser.conftest import db, log_in, screenshot

from contracts.models import ContractVersion
from registry.pipelines import Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]


def add_versions():
    base = ContractVersion.objects.get(contract__contract_id="shop.orders", version="0.1.0").document
    for version, status, logical in [("1.0.0", "active", "number"), ("2.0.0", "draft", "integer")]:
        document = json.loads(json.dumps(base))
        document["version"] = version
        document["schema"][0]["properties"][1]["logicalType"] = logical
        ContractVersion.from_text(json.dumps(document), status=status).save()
    Pipeline.objects.filter(key="orders-landing").update(output_contract="shop.orders@^1")


def test_a_reader_follows_a_diff_link_and_compares_two_versions(viewer, browser, site_url):
    db(add_versions)
    page = log_in(browser, site_url, viewer, "pw-viewer")
    page.goto(site_url + "/contracts/shop.orders/")
    page.click("a.diff-link >> text=diff from 1.0.0")
    page.wait_for_url("**/contracts/shop.orders/diff/1.0.0/2.0.0/")
    assert page.inner_text("[data-required-bump]") == "major"
    row = page.locator("#changes tbody tr.change-breaking")
    assert row.count() == 1
    assert "type narrowed: number -> integer" in row.inner_text()
    pipelines = page.locator("#pipelines tbody tr")
    assert pipelines.count() == 1
    assert "orders-landing" in pipelines.inner_text()
    assert "no: its reference keeps it off 2.0.0" in pipelines.inner_text()
    screenshot(page, "contract-diff")
    page.select_option("select[name=from]", "0.1.0")
    page.select_option("select[name=to]", "1.0.0")
    page.click("form.diff-pick button[type=submit]")
    page.wait_for_url("**/contracts/shop.orders/diff/0.1.0/1.0.0/")
    assert page.inner_text("[data-required-bump]") == "none"
    assert "The two documents are identical." in page.content()
