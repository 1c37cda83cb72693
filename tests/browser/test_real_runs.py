"""The acceptance of the live site: press Run in Chromium and watch real Spark streams.

The site runs in its own daphne process with its SparkSession warmed at start; the
runner threads live there, exactly as when a person presses Run.
"""

import re

import pytest
from browser.conftest import database_url_of_tests, db, log_in, screenshot, serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.spark,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("demo_contracts"),
]
RUN_PAGE = re.compile(r".*/runs/[0-9a-f-]{36}/$")
FINISHED = "#run-header .status-ok, #run-header .status-warn, #run-header .status-blocked, #run-header .status-failed"


@pytest.fixture(scope="module")
def spark_site_url(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        database_url = database_url_of_tests()
    data = tmp_path_factory.mktemp("site-data")
    with serving(
        "spark-server",
        DATABASE_URL=database_url,
        DC43_WARM_SPARK="true",
        DC43_DATA_ROOT=str(data / "data"),
        DC43_CHECKPOINT_ROOT=str(data / "checkpoints"),
    ) as url:
        yield url


def press_run(browser, url, user, key, seconds=None):
    page = log_in(browser, url, user, f"pw-{user.username}")
    card = page.locator(f"#pipeline-{key}")
    if seconds:
        card.locator("summary").click()
        card.locator("input[name=seconds]").fill(str(seconds))
    card.locator("button[type=submit]").click()
    page.wait_for_url(RUN_PAGE, timeout=10_000)
    page.evaluate("window.loadedOnce = true")
    return page


def run_id(page):
    return page.url.rstrip("/").rsplit("/", 1)[1]


def badge_ids(page):
    return page.eval_on_selector_all("#batches > li", "els => els.map(e => e.id)")


def recorded_badges(rid):
    from registry.models import MicroBatch

    return sorted(f"batch-{s}-{b}" for s, b in MicroBatch.objects.filter(run_id=rid).values_list("stream", "batch_id"))


def test_streaming_valid_badges_appear_one_by_one_and_the_status_turns_ok(operator, browser, spark_site_url):
    page = press_run(browser, spark_site_url, operator, "streaming-valid")
    assert page.locator("#run-header .status-running").is_visible()
    seen_while_running = set()
    page.wait_for_selector("#batches > li", timeout=120_000)
    while page.locator("#run-header .status-running").count():
        seen_while_running.add(len(badge_ids(page)))
        page.wait_for_timeout(250)
    page.wait_for_selector("#run-header .status-ok", timeout=60_000)

    assert len(seen_while_running - {0}) >= 3, seen_while_running  # badges kept arriving while it ran
    assert sorted(badge_ids(page)) == db(recorded_badges, run_id(page))
    assert page.evaluate("window.loadedOnce === true")  # no reload
    assert "Run ended ok" in page.inner_text("#timeline")
    screenshot(page, "streaming-valid")


def test_streaming_dq_rejects_shows_warning_badges_and_the_reject_sink(operator, browser, spark_site_url):
    page = press_run(browser, spark_site_url, operator, "streaming-dq-rejects")
    page.wait_for_selector(FINISHED, timeout=180_000)

    assert page.locator("#run-header .status-warn").is_visible()
    warn = page.locator("#batches > li.batch-warn")
    assert warn.count() >= 1
    assert re.search(r"\d+ quarantined", warn.first.inner_text())
    assert re.search(r"reject sink activated at batch \d+", page.inner_text("#timeline"), re.I)
    assert "value" in page.inner_text("#run-quarantine")
    assert sorted(badge_ids(page)) == db(recorded_badges, run_id(page))
    assert page.evaluate("window.loadedOnce === true")
    screenshot(page, "streaming-dq-rejects")


def test_streaming_schema_break_is_blocked_with_the_difference_and_no_batches(operator, browser, spark_site_url):
    page = press_run(browser, spark_site_url, operator, "streaming-schema-break")
    page.wait_for_selector(FINISHED, timeout=120_000)

    assert page.locator("#run-header .status-blocked").is_visible()
    assert page.locator("#batches > li").count() == 0
    assert "value" in page.inner_text("#run-gate table.differences")
    assert page.evaluate("window.loadedOnce === true")
    screenshot(page, "streaming-schema-break")


def test_a_reload_in_the_middle_of_a_real_run_ends_with_every_batch_once(operator, browser, spark_site_url):
    page = press_run(browser, spark_site_url, operator, "streaming-valid", seconds=12)
    page.wait_for_selector("#batches > li:nth-child(2)", timeout=120_000)
    assert page.locator("#run-header .status-running").count()
    page.reload()
    page.wait_for_selector("#run-header .status-ok", timeout=90_000)

    ids = badge_ids(page)
    assert len(ids) == len(set(ids))
    assert sorted(ids) == db(recorded_badges, run_id(page))
    screenshot(page, "streaming-valid-after-reload")
