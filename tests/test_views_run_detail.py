import math
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from markup import by_id, elements, ids
from simulate import SimulatedRun, play

from contracts.models import Contract
from registry.models import DatasetVersion, MicroBatch, RuleResult, Run, RunEvent, rule_result_fields
from registry.presenters import BATCH_WINDOW

pytestmark = pytest.mark.django_db


def page(client, run):
    response = client.get(run.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_a_healthy_run_shows_its_batches_versions_and_ok_status(client, viewer):
    run = play(SimulatedRun("streaming-valid"), "valid", batches=4)
    client.force_login(viewer)
    html = page(client, run)
    assert "status: ok" in html
    for batch_id in range(4):
        assert html.count(f'id="batch-main-{batch_id}"') == 1
    assert len(ids(html, "version-", tag="tr")) == 3  # the empty first batch publishes nothing
    assert "First rows arrived in batch 1" in html
    assert "Run ended ok" in html
    assert by_id(html, "run-quarantine").attrs["class"] == ""
    assert "ws-connect" not in html  # finished: nothing to watch


def test_a_reject_run_shows_the_quarantine_summary(client, viewer):
    run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=4)
    client.force_login(viewer)
    html = page(client, run)
    assert "status: warn" in html
    assert "2 quarantined" in html
    assert "The reject sink activated at batch 1" in html
    assert "<strong>4</strong> rows quarantined, the first at batch 1" in html
    assert '<code>value &gt;= 0</code></td><td class="num">4</td>' in html
    assert "/datasets/demo.streaming.events_rejects/" in html
    assert "<code>/data/demo.streaming.events_rejects</code>" in html


def test_a_blocked_run_shows_the_schema_difference_and_no_batches(client, viewer):
    run = play(SimulatedRun("streaming-schema-break", run_type="enforce"), "schema-break")
    client.force_login(viewer)
    html = page(client, run)
    assert "status: blocked" in html
    assert 'class="card gate gate-block"' in html
    assert "<td><code>value</code></td><td>bigint, required</td><td>missing</td>" in html
    assert 'id="batch-main-' not in html
    assert "No micro-batch: the schema gate blocked the run" in html
    assert "Nothing was published" in html


def test_a_running_run_connects_its_socket_with_the_seq_it_rendered(client, viewer):
    sim = SimulatedRun("streaming-valid").start()
    client.force_login(viewer)
    html = page(client, sim.run)
    assert f'ws-connect="/ws/runs/{sim.run.id}/"' in html
    assert by_id(html, "live-seq").has(type="hidden", name="last_seq", value="4")
    assert elements(html, "li", class_="stage stage-active", aria_current="step")
    assert "Waiting for the first micro-batch" in html


def test_rows_committed_after_the_run_row_wait_for_their_event(client, viewer):
    sim = SimulatedRun("streaming-valid").start().gate()
    sim.batch(6)
    # A batch whose event is not in the log yet (as if read between the two).
    MicroBatch.objects.create(
        run=sim.run, batch_id=7, status="ok", row_count=6, started_at=timezone.now(), finished_at=timezone.now()
    )
    client.force_login(viewer)
    html = page(client, sim.run)
    assert 'id="batch-main-0"' in html
    assert 'id="batch-main-7"' not in html


def test_run_text_with_html_is_shown_escaped(client, viewer):
    sim = SimulatedRun("<script>alert('scenario')</script>").start().gate()
    Contract.objects.filter(pk=sim.output.contract_id).update(contract_id="evil<b>contract")
    sim.run.log("milestone", {"milestone": "first_rows", "batch_id": 0, "text": "<img src=x onerror=alert(1)>"})
    sim.run.finish("failed", "boom <script>alert('reason')</script>")
    client.force_login(viewer)
    html = page(client, sim.run)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<b>contract" not in html
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "evil&lt;b&gt;contract" in html


def test_an_unknown_run_is_404(client, viewer):
    client.force_login(viewer)
    assert client.get("/runs/00000000-0000-0000-0000-000000000000/").status_code == 404


def big_run(batches):
    """A finished run with many batches, written in bulk."""
    sim = SimulatedRun("streaming-dq-rejects").start().gate()
    run, now = sim.run, timezone.now()
    MicroBatch.objects.bulk_create(
        MicroBatch(
            run=run,
            batch_id=i,
            status="warn",
            row_count=6,
            violations=1,
            rejected_rows=1,
            metrics={
                "rules": [{"rule": "value >= 0", "column": "value", "failed": 1, "verdict": "warn"}],
                "reasons": {"value >= 0": 1},
            },
            started_at=now - timedelta(seconds=1),
            finished_at=now,
        )
        for i in range(batches)
    )
    RuleResult.objects.bulk_create(
        RuleResult(run=run, batch=mb, recorded_at=mb.finished_at, **fields)
        for mb in MicroBatch.objects.filter(run=run)
        for fields in rule_result_fields(mb.metrics["rules"])
    )
    start = run.last_seq
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=start + 1 + i, kind="batch", payload={"stream": "main", "batch_id": i, "status": "warn"})
        for i in range(batches)
    )
    Run.objects.filter(pk=run.pk).update(last_seq=start + batches)
    versions = []
    for mb in MicroBatch.objects.filter(run=run):
        for fields in (
            sim.slice(mb.batch_id, "demo.streaming.events_processed", sim.output, 5, 0, "ok"),
            sim.slice(mb.batch_id, "demo.streaming.events_rejects", sim.rejects, 1, 0, "ok"),
        ):
            versions.append(DatasetVersion(run=run, micro_batch=mb, **fields))
    DatasetVersion.objects.bulk_create(versions)
    run.finish()
    return run


def test_the_page_costs_the_same_queries_for_5_or_500_batches(client, viewer, django_assert_num_queries):
    small, large = big_run(5), big_run(500)
    client.force_login(viewer)
    client.get(small.get_absolute_url())  # warm the session and permission caches alike for both
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        html_small = page(client, small)
    with CaptureQueriesContext(connection) as many:
        html_large = page(client, large)
    assert len(many) == len(few)
    # The long run lists a window of its newest batches (see the tests below), the short one all of them.
    assert 'id="batch-main-499"' in html_large and 'id="batch-main-0"' not in html_large
    assert len(ids(html_small, "batch-main-", tag="li")) == 5


def test_the_page_renders_within_a_fixed_query_budget(client, viewer, django_assert_max_num_queries):
    run = big_run(500)
    client.force_login(viewer)
    with django_assert_max_num_queries(13):
        page(client, run)


def test_only_get_is_allowed(client, viewer):
    run = SimulatedRun().run
    client.force_login(viewer)
    assert client.post(run.get_absolute_url()).status_code == 405


def test_a_run_whose_process_died_reads_interrupted_once_swept(client, viewer):
    sim = SimulatedRun().start()
    Run.objects.filter(pk=sim.run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    client.force_login(viewer)
    assert "status: running" in page(client, sim.run)  # a page shows what the registry says, and writes nothing
    call_command("sweep_runs")
    html = page(client, sim.run)
    assert "status: interrupted" in html
    assert "ws-connect" not in html


def test_a_run_that_failed_mid_stream_shows_where_it_stopped(client, viewer):
    sim = SimulatedRun().start().gate()
    sim.batch(6)
    sim.run.finish("failed", "executor lost")
    client.force_login(viewer)
    html = page(client, sim.run)
    assert 'aria-current="step"' not in html
    assert '<li class="stage stage-failed">' in html and 'Streaming</span> <span class="stage-status">failed' in html
    assert "Run ended failed" in html


def test_a_run_blocked_at_its_input_gate_shows_that_gate(client, viewer):
    sim = SimulatedRun().start()
    sim.run.log(
        "gate", {"verdict": "ok", "differences": [], "side": "input", "contract": "demo.streaming.events@0.1.0"}
    )
    sim.run.log(
        "gate",
        {
            "verdict": "block",
            "side": "output",
            "contract": "demo.streaming.events_processed@0.1.0",
            "differences": [
                {
                    "column": "value",
                    "expected": "bigint",
                    "found": "missing",
                    "verdict": "block",
                    "problem": "required column is missing",
                }
            ],
            "snapshot": [{"name": "timestamp", "type": "timestamp", "nullable": True}],
        },
    )
    sim.run.finish("blocked", "schema gate")
    client.force_login(viewer)
    html = page(client, sim.run)
    assert "Input schema gate passed" in html
    assert "Schema gate blocked the run" in html
    assert 'class="card gate gate-block"' in html
    assert "<td><code>timestamp</code></td><td>timestamp</td><td>yes</td>" in html


def listed_batches(html):
    return [int(i.removeprefix("batch-main-")) for i in ids(html, "batch-main-", tag="li")]


def test_a_long_run_lists_its_newest_batches_and_links_to_the_older_ones(client, viewer):
    run = big_run(500)
    client.force_login(viewer)
    html = page(client, run)
    listed = listed_batches(html)
    assert listed == sorted(listed) and listed[-1] == 499
    assert 0 < len(listed) <= BATCH_WINDOW
    assert len(ids(html, "dq-main-", tag="tr")) == len(listed)
    assert len(ids(html, "version-", tag="tr")) == 2 * len(listed)  # each batch published an output and a rejects slice
    older = listed[0]
    assert f"{older} earlier batches before batch {older}:" in html
    assert 'href="?batches_before=' in html


def test_paging_back_through_a_long_run_shows_every_batch_once(client, viewer):
    run = big_run(500)
    client.force_login(viewer)
    seen, url, pages = [], run.get_absolute_url(), 0
    while url:
        html = client.get(url).content.decode()
        pages += 1
        seen += listed_batches(html)
        older = [a.attrs["href"] for a in elements(html, "a") if a.text.strip() == "show older batches"]
        url = run.get_absolute_url() + older[0] if older else None
        if pages > 1:
            assert "Back to the newest batches" in html
    assert sorted(seen) == list(range(500))
    assert pages >= math.ceil(500 / BATCH_WINDOW)


def test_an_older_page_of_a_running_run_stays_still(client, viewer):
    sim = SimulatedRun().start().gate()
    for _ in range(BATCH_WINDOW + 10):
        sim.batch(6)
    client.force_login(viewer)
    assert "ws-connect" in page(client, sim.run)
    html = client.get(sim.run.get_absolute_url() + "?batches_before=20").content.decode()
    assert "ws-connect" not in html  # live updates would append new badges to an old window
    assert 'id="batch-main-0"' in html and "Back to the newest batches" in html


def test_totals_and_failures_per_rule_cover_the_whole_run(client, viewer):
    run = big_run(500)
    client.force_login(viewer)
    html = page(client, run)
    assert "<strong>500</strong> batches" in html
    assert "<strong>3000</strong> rows" in html
    assert "<strong>500</strong> quarantined" in html
    assert "<strong>500</strong> rows quarantined, the first at batch 0" in html
    assert '<code>value &gt;= 0</code></td><td class="num">500</td>' in html
    assert '<td class="num">500</td><td class="num">500 / 500</td>' in html  # the rule's failed rows, batches failing
    assert "the run published 1000 in all" in html
    assert "(500 slices)" in html


def test_a_bad_batches_cursor_shows_the_newest_batches(client, viewer):
    run = big_run(80)
    client.force_login(viewer)
    for cursor in ("garbage", "-3", "0"):
        html = client.get(run.get_absolute_url(), {"batches_before": cursor}).content.decode()
        assert 'id="batch-main-79"' in html and "Back to the newest batches" not in html


def test_the_rule_table_says_how_the_newest_batch_established_each_count(client, viewer):
    run = big_run(2)
    newest = run.batches.order_by("-batch_id").first()
    newest.metrics["rules"][0]["by"] = "footer"
    newest.save(update_fields=["metrics"])
    client.force_login(viewer)
    html = page(client, run)
    assert '<span class="muted" title="how the newest batch established this count">proven from the footers' in html
