"""A rule's history in Chromium, with JavaScript off: the contract page's trend leads to the rule page,
whose chart and worst batches read as they are, and a worst batch leads to its run."""

import pytest
from browser.conftest import db, screenshot
from test_views_rule import RULE, make_history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]


def test_a_rule_page_read_without_javascript_charts_its_history_and_links_its_worst_batches(viewer, browser, site_url):
    history = db(make_history)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(site_url + "/login/")
    page.fill("#id_username", viewer.username)
    page.fill("#id_password", "pw-viewer")
    page.click("button[type=submit]")
    page.wait_for_url(site_url + "/")

    page.goto(site_url + "/contracts/demo.streaming.events_processed/")
    trend = page.locator(f'[id="trend-{history["key"]}"]')
    assert trend.locator("svg.spark polyline").is_visible()
    screenshot(page, "contract-rule-trends")
    trend.locator(f"text={RULE}").click()
    page.wait_for_url(f"**/rules/{history['key']}/")

    chart = page.locator("#rule-chart svg")
    assert chart.is_visible() and chart.bounding_box()["width"] > 300
    assert page.locator("#rule-chart g.bar").count() == 9
    assert page.locator("#rule-chart g.version-change").count() == 1
    assert "0.2.0" in page.inner_text("#rule-chart figcaption")
    rows = page.locator("#worst-batches tbody tr")
    assert rows.count() == 3
    screenshot(page, "rule-page")
    rows.first.locator("a").click()
    page.wait_for_url(f"**{history['runs'][2].get_absolute_url()}")
    assert page.locator("#run-header .status-warn").is_visible()
    context.close()
