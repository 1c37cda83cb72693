"""The pages around the live run, in Chromium at laptop width."""

import pytest
from browser.conftest import db, log_in, screenshot
from simulate import SimulatedRun, play

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]


def test_someone_without_the_permission_sees_why_run_is_disabled(viewer, browser, site_url):
    page = log_in(browser, site_url, viewer, "pw-viewer")
    buttons = page.locator("form.run-form button[type=submit]")
    assert buttons.count() == 4  # the three scenarios and orders-landing
    assert all(buttons.nth(i).is_disabled() for i in range(4))
    assert "needs the Can start pipeline runs permission" in page.inner_text("#why-disabled")
    screenshot(page, "scenarios-without-permission")


def test_the_runs_list_filters_and_links_to_each_run(operator, browser, site_url):
    ok = db(lambda: play(SimulatedRun("streaming-valid", user=operator), "valid", batches=2))
    warn = db(lambda: play(SimulatedRun("streaming-dq-rejects", user=operator), "rejects", batches=3))
    page = log_in(browser, site_url, operator, "pw-operator")
    screenshot(page, "scenarios")
    page.goto(site_url + "/runs/")
    assert page.locator("table.runs tbody tr").count() == 2
    page.select_option("#f-status", "warn")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/runs/?*status=warn*")
    assert page.locator("table.runs tbody tr").count() == 1
    screenshot(page, "runs-filtered")
    page.click(f'a[href="{warn.get_absolute_url()}"]')
    assert page.locator("#run-header .status-warn").is_visible()
    assert ok.get_absolute_url() not in page.content()


def test_dataset_history_links_to_contract_and_runs(operator, browser, site_url):
    run = db(lambda: play(SimulatedRun("streaming-valid", user=operator), "valid", batches=3))
    page = log_in(browser, site_url, operator, "pw-operator")
    page.goto(site_url + "/datasets/")
    page.click("text=demo.streaming.events_processed >> nth=0")
    assert page.locator("table.versions tbody tr").count() == 2
    screenshot(page, "dataset-history")
    page.click(f'a[href="{run.get_absolute_url()}"] >> nth=0')
    assert page.locator("#run-header .status-ok").is_visible()
    page.click("#run-header a >> text=demo.streaming.events_processed 0.1.0")
    assert "/contracts/demo.streaming.events_processed/0.1.0/" in page.url
