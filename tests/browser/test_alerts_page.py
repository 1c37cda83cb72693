"""The alerts page in Chromium: filter, Acknowledge, Resolve, and the link to the run."""

import pytest
from browser.conftest import db, log_in, screenshot
from simulate import SimulatedRun, play

from registry.alerts import Alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]


def open_alerts():
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    play(SimulatedRun("streaming-schema-break"), "schema-break")
    return list(Alert.objects.order_by("opened_at"))


def test_someone_on_call_acknowledges_then_resolves_an_alert(oncall, browser, site_url):
    warn, blocked = db(open_alerts)
    page = log_in(browser, site_url, oncall, "pw-oncall")
    page.click("nav >> text=Alerts")
    page.wait_for_url("**/alerts/")
    assert page.locator("table.alerts tbody tr").count() == 2
    row = page.locator(f"#alert-{warn.pk}")
    assert row.locator(".status-warn").is_visible()
    screenshot(page, "alerts")

    row.locator("button.acknowledge").click()
    page.wait_for_load_state()
    assert "acknowledged: it is no longer re-notified" in page.inner_text(".messages")
    row = page.locator(f"#alert-{warn.pk}")
    assert row.locator(".state").inner_text() == "acknowledged"
    assert "oncall, after" in row.inner_text()
    assert row.locator("button.acknowledge").count() == 0

    row.locator("button.resolve").click()
    page.wait_for_load_state()
    page.select_option("#f-state", "unresolved")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/alerts/?state=unresolved")
    assert page.locator("table.alerts tbody tr").count() == 1
    assert page.locator(f"#alert-{blocked.pk}").is_visible()
    screenshot(page, "alerts-unresolved")

    page.click(f"#alert-{blocked.pk} >> a >> nth=0")
    assert page.locator("#run-header .status-blocked").is_visible()
    state = db(lambda: Alert.objects.get(pk=warn.pk))
    assert (state.state, state.resolution) == ("resolved", "by hand, by oncall")


def test_someone_without_the_permission_sees_why_the_buttons_are_disabled(viewer, browser, site_url):
    db(open_alerts)
    page = log_in(browser, site_url, viewer, "pw-viewer")
    page.goto(site_url + "/alerts/")
    buttons = page.locator("table.alerts button")
    assert buttons.count() == 4
    assert all(buttons.nth(i).is_disabled() for i in range(4))
    assert "Can acknowledge and resolve alerts" in page.inner_text("#why-disabled")
