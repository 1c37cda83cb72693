"""Stop pressed in Chromium: a pipeline started until stopped ends cleanly, and its page follows without a reload.

The site runs in its own daphne process with real Spark, as when a person presses Start.
"""

import re

import pytest
from browser.conftest import database_url_of_tests, db, log_in, screenshot, serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.spark,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("demo_contracts"),  # the demo pipelines too
]
RUN_PAGE = re.compile(r".*/runs/[0-9a-f-]{36}/$")
# Set once the header says "stopping…": the run may end soon after, and the badge goes with its end.
WATCH_STOPPING = """
window.sawStopping = false;
new MutationObserver(() => { if (document.querySelector('#run-stopping')) window.sawStopping = true; })
  .observe(document.body, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def spark_site_url(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        database_url = database_url_of_tests()
    data = tmp_path_factory.mktemp("stop-site")
    with serving(
        "stop-server",
        DATABASE_URL=database_url,
        DC43_WARM_SPARK="true",
        DC43_DATA_ROOT=str(data / "data"),
        DC43_CHECKPOINT_ROOT=str(data / "checkpoints"),
    ) as url:
        yield url


def run_of(run_id):
    from registry.models import Run

    return Run.objects.get(pk=run_id)


def test_stop_pressed_on_a_run_started_until_stopped_ends_it_ok_with_who_stopped_it(operator, browser, spark_site_url):
    page = log_in(browser, spark_site_url, operator, "pw-operator")
    card = page.locator("#pipeline-streaming-valid")
    card.locator("summary").click()
    card.locator("input[name=mode][value=until-stopped]").check()
    card.get_by_role("button", name="Start streaming-valid").click()
    page.wait_for_url(RUN_PAGE, timeout=10_000)
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    run_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert "until stopped" in page.inner_text("#run-header")

    page.wait_for_selector("#batches > li:nth-child(3)", timeout=180_000)
    assert page.locator("#run-header .status-running").is_visible()
    screenshot(page, "pipeline-stop-running")
    page.evaluate(WATCH_STOPPING)
    page.get_by_role("button", name="Stop the run").click()
    page.wait_for_selector("#run-header .status-ok", timeout=120_000)

    assert page.evaluate("window.sawStopping === true")  # "stopping…" showed between the press and the end
    assert "stopped by operator" in page.inner_text("#run-header")
    assert "Stop requested by operator" in page.inner_text("#timeline")
    assert "Run ended ok" in page.inner_text("#timeline")
    assert not page.locator("#run-stop").is_visible()  # nothing left to stop
    assert page.evaluate("window.loadedOnce === true")  # all of it without a reload
    run = db(run_of, run_id)
    assert (run.status, run.mode, run.stop_requested_by) == ("ok", "until-stopped", "operator")
    assert len(page.eval_on_selector_all("#batches > li", "els => els.map(e => e.id)")) == db(run.batches.count)
    screenshot(page, "pipeline-stop-ended")


def test_the_pipelines_page_shows_a_live_badge_and_stop_while_a_run_is_active(operator, browser, spark_site_url):
    page = log_in(browser, spark_site_url, operator, "pw-operator")
    card = page.locator("#pipeline-streaming-valid")
    card.locator("summary").click()
    card.locator("input[name=mode][value=until-stopped]").check()
    card.get_by_role("button", name="Start streaming-valid").click()
    page.wait_for_url(RUN_PAGE, timeout=10_000)
    page.wait_for_selector("#batches > li", timeout=180_000)

    page.goto(spark_site_url + "/")
    card = page.locator("#pipeline-streaming-valid")
    assert card.locator(".live-pill").is_visible()
    screenshot(page, "pipelines-page-active")
    card.get_by_role(
        "button", name="Stop", exact=True
    ).click()  # from the card: back on the run's page, which follows it
    page.wait_for_url(RUN_PAGE, timeout=10_000)
    page.wait_for_selector("#run-header .status-ok", timeout=120_000)
    assert "stopped by operator" in page.inner_text("#run-header")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(spark_site_url + "/")
    assert not page.locator("#pipeline-streaming-valid .live-pill").count()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll on a phone
    screenshot(page, "pipelines-page-phone")
