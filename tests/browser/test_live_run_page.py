"""A person watching runs in Chromium, against the site served by daphne in another process.

The runs are simulated from this test process (tests/simulate.py), so they reach the
page the way a `manage.py run_scenario` run does: through the database (and Redis
when REDIS_URL is set), never through the site's own memory.
"""

import pytest
from browser.conftest import db, log_in, screenshot
from simulate import SimulatedRun, play_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]
PAUSE = 0.7


def badge_ids(page):
    return page.eval_on_selector_all("#batches > li", "els => els.map(e => e.id)")


def watch(page, url):
    page.goto(url)
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads


def assert_not_reloaded(page):
    assert page.evaluate("window.loadedOnce === true")


def test_healthy_run_badges_appear_one_by_one_and_the_status_turns_ok(operator, browser, site_url):
    sim = db(lambda: SimulatedRun("streaming-valid", user=operator).start())
    page = log_in(browser, site_url, operator, "pw-operator")
    watch(page, site_url + sim.run.get_absolute_url())
    assert page.locator("#run-header .status-running").is_visible()
    thread = play_in_thread(sim, kind="valid", batches=5, pause=PAUSE, start=False)

    counts_while_running = []
    for n in range(1, 6):
        page.wait_for_selector(f"#batches > li:nth-child({n})", timeout=10_000)
        if page.locator("#run-header .status-running").count():
            counts_while_running.append(len(badge_ids(page)))
    page.wait_for_selector("#run-header .status-ok", timeout=10_000)
    thread.join()

    # Badges arrive while the run is still running, a few at a time at most (the site may poll once a second).
    assert counts_while_running[0] == 1
    assert len(set(counts_while_running)) >= 3
    assert badge_ids(page) == [f"batch-main-{i}" for i in range(5)]
    assert page.locator("#run-stages [aria-current=step]").count() == 0
    assert "Run ended ok" in page.inner_text("#timeline")
    assert page.locator("table.versions tbody tr").count() == 4
    assert page.locator("#run-header .live-pill").count() == 0
    assert_not_reloaded(page)
    screenshot(page, "simulated-streaming-valid")


def test_reject_run_shows_warning_badges_with_quarantined_counts_and_the_reject_sink_milestone(
    operator, browser, site_url
):
    sim = db(lambda: SimulatedRun("streaming-dq-rejects", user=operator).start())
    page = log_in(browser, site_url, operator, "pw-operator")
    watch(page, site_url + sim.run.get_absolute_url())
    thread = play_in_thread(sim, kind="rejects", batches=4, pause=PAUSE, start=False)

    page.wait_for_selector("#timeline >> text=The reject sink activated at batch 1", timeout=10_000)
    page.wait_for_selector("#run-header .status-warn", timeout=10_000)
    thread.join()

    warn_badges = page.locator("#batches > li.batch-warn")
    assert warn_badges.count() == 2
    assert "2 quarantined" in warn_badges.first.inner_text()
    assert "warn" in warn_badges.first.inner_text()  # the word, not only the colour
    assert "4 rows quarantined" in page.inner_text("#run-quarantine")
    assert "value >= 0" in page.inner_text("#run-quarantine")
    assert_not_reloaded(page)
    screenshot(page, "simulated-streaming-dq-rejects")


def test_schema_break_shows_the_blocked_state_and_the_difference_without_batches(operator, browser, site_url):
    sim = db(lambda: SimulatedRun("streaming-schema-break", run_type="enforce", user=operator).start())
    page = log_in(browser, site_url, operator, "pw-operator")
    watch(page, site_url + sim.run.get_absolute_url())
    thread = play_in_thread(sim, kind="schema-break", pause=PAUSE, start=False)

    page.wait_for_selector("#run-header .status-blocked", timeout=10_000)
    thread.join()

    assert page.locator("#batches > li").count() == 0
    assert "blocked" in page.inner_text("#run-stages")
    difference = page.inner_text("#run-gate table.differences")
    assert "value" in difference and "missing" in difference
    assert "No micro-batch: the schema gate blocked the run" in page.inner_text("#batches-note")
    assert_not_reloaded(page)
    screenshot(page, "simulated-streaming-schema-break")


def test_a_reload_in_the_middle_of_a_run_ends_with_every_batch_exactly_once(operator, browser, site_url):
    sim = db(lambda: SimulatedRun("streaming-valid", user=operator).start())
    page = log_in(browser, site_url, operator, "pw-operator")
    page.goto(site_url + sim.run.get_absolute_url())
    thread = play_in_thread(sim, kind="valid", batches=6, pause=PAUSE, start=False)

    page.wait_for_selector("#batches > li:nth-child(2)", timeout=10_000)
    page.reload()
    page.wait_for_selector("#run-header .status-ok", timeout=15_000)
    thread.join()

    assert badge_ids(page) == [f"batch-main-{i}" for i in range(6)]
    rows = page.eval_on_selector_all("table.dq-batches tbody tr", "els => els.map(e => e.id)")
    assert rows == [f"dq-main-{i}" for i in range(6)]
    entries = page.eval_on_selector_all("#timeline > li", "els => els.map(e => e.id)")
    assert len(entries) == len(set(entries))


def test_a_dropped_connection_resumes_where_it_was(operator, browser, site_url):
    sim = db(lambda: SimulatedRun("streaming-dq-rejects", user=operator).start())
    page = log_in(browser, site_url, operator, "pw-operator")
    watch(page, site_url + sim.run.get_absolute_url())
    thread = play_in_thread(sim, kind="rejects", batches=6, pause=PAUSE, start=False)

    page.wait_for_selector("#batches > li:nth-child(2)", timeout=10_000)
    # What the ws extension does after an abnormal close: a new socket on the same element.
    page.evaluate("document.getElementById('live')['htmx-internal-data'].webSocket.publicInterface.reconnect()")
    page.wait_for_selector("#run-header .status-warn", timeout=15_000)
    thread.join()

    assert badge_ids(page) == [f"batch-main-{i}" for i in range(6)]
    assert page.locator("table.versions tbody tr").count() == len(
        set(page.eval_on_selector_all("table.versions tbody tr", "els => els.map(e => e.id)"))
    )
    assert_not_reloaded(page)


def test_a_finished_run_reads_well_on_a_phone(operator, browser, site_url):
    from simulate import play

    run = db(lambda: play(SimulatedRun("streaming-dq-rejects", user=operator), "rejects", batches=5))
    page = log_in(browser, site_url, operator, "pw-operator", viewport={"width": 390, "height": 844})
    for path in (run.get_absolute_url(), "/", "/runs/", "/datasets/"):
        page.goto(site_url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.goto(site_url + run.get_absolute_url())
    screenshot(page, "simulated-phone-run-page")


def test_a_whole_run_arriving_in_one_update_keeps_every_table(operator, browser, site_url):
    sim = db(lambda: SimulatedRun("streaming-dq-rejects", user=operator).start())
    page = log_in(browser, site_url, operator, "pw-operator")
    watch(page, site_url + sim.run.get_absolute_url())
    page.wait_for_selector("#live-state >> text=Connected", timeout=10_000)
    # No pause: on the embedded channel layer the next poll finds batches, versions and completion at once.
    play_in_thread(sim, kind="rejects", batches=4, pause=0, start=False).join()
    page.wait_for_selector("#run-header .status-warn", timeout=10_000)

    assert page.locator("#run-quarantine table.reasons tbody tr").count() == 1
    assert page.locator("#run-quarantine table.sample tbody tr").count() == 2
    assert page.locator("#dq-rules table tbody tr").count() == 2
    ids = page.eval_on_selector_all("table.versions tbody tr", "els => els.map(e => e.id)")
    assert len(ids) == len(set(ids)) == 5
    assert page.locator("table.dq-batches tbody tr").count() == 4
    assert_not_reloaded(page)
