"""MicroBatch.objects.summary: a run's sums over all its batches, added up by the database."""

from datetime import timedelta

import pytest
from django.utils import timezone
from simulate import SimulatedRun

from registry.models import MicroBatch

pytestmark = pytest.mark.django_db


def rule(name, level="row", failed=0, verdict="ok", skipped=False):
    return {
        "rule": name,
        "column": name.split(".")[0],
        "kind": "compare",
        "level": level,
        "failed": failed,
        "value": failed,
        "passed": verdict == "ok",
        "verdict": verdict,
        "severity": "error",
        "skipped": skipped,
        "note": "not run by dc43" if skipped else "",
    }


def add(run, batch_id, status, rules, rows=10, violations=0, rejected=0, reasons=None, sample=None):
    now = timezone.now()
    metrics = {"rules": rules, "reasons": reasons or {}}
    if sample:
        metrics["reject_sample"] = sample
    return MicroBatch.objects.create(
        run=run,
        batch_id=batch_id,
        status=status,
        row_count=rows,
        violations=violations,
        rejected_rows=rejected,
        metrics=metrics,
        started_at=now - timedelta(seconds=1),
        finished_at=now,
    )


@pytest.fixture
def run():
    """Five batches measured by one contract: a row rule, a metric rule with a threshold, a skipped rule."""
    run = SimulatedRun("streaming-dq-rejects").run
    add(
        run,
        0,
        "ok",
        [rule("value.min"), rule("flag.nulls", "metric", failed=3), rule("x.text", "skipped", skipped=True)],
    )
    add(
        run,
        1,
        "warn",
        [
            rule("value.min", failed=4, verdict="warn"),
            rule("flag.nulls", "metric"),
            rule("x.text", "skipped", skipped=True),
        ],
        violations=4,
        rejected=4,
        reasons={"value.min": 4},
        sample=[{"value": -1}, {"value": -2}],
    )
    add(
        run,
        2,
        "empty",
        [rule("value.min"), rule("flag.nulls", "metric"), rule("x.text", "skipped", skipped=True)],
        rows=0,
    )
    add(
        run,
        3,
        "block",
        [
            rule("value.min"),
            rule("flag.nulls", "metric", failed=7, verdict="block"),
            rule("x.text", "skipped", skipped=True),
        ],
    )
    add(
        run,
        4,
        "warn",
        [
            rule("value.min", failed=2, verdict="warn"),
            rule("flag.nulls", "metric"),
            rule("x.text", "skipped", skipped=True),
        ],
        violations=2,
        rejected=2,
        reasons={"value.min": 2, "flag.bad": 1},
        sample=[{"value": -3}],
    )
    return run


def the_rules(run):
    return MicroBatch.objects.filter(run=run).order_by("-pk").first().metrics["rules"]


def test_totals_count_every_batch_in_one_query(run, django_assert_num_queries):
    rules = the_rules(run)
    with django_assert_num_queries(1):
        summary = MicroBatch.objects.summary(run.pk, rules)
    assert summary["totals"] == {
        "batches": 5,
        "rows": 40,
        "violations": 6,
        "rejected": 6,
        "empty": 1,
        "first_rejected": 1,
    }


def test_each_rule_sums_its_failed_rows_batches_and_worst_verdict(run):
    per_rule = MicroBatch.objects.summary(run.pk, the_rules(run))["rules"]
    assert per_rule == [
        {"failed": 6, "batches_failing": 2, "measured": 5, "verdict": "warn"},
        # a metric rule's rows count even in a batch it passed (under its threshold)
        {"failed": 10, "batches_failing": 2, "measured": 5, "verdict": "block"},
        {"failed": 0, "batches_failing": 0, "measured": 5, "verdict": "ok"},
    ]


def test_a_batch_listing_its_rules_in_another_order_is_not_counted_for_them(run):
    add(run, 5, "warn", [rule("flag.nulls", "metric", failed=1, verdict="warn"), rule("value.min")])
    per_rule = MicroBatch.objects.summary(run.pk, the_rules_of_batch(run, 0))["rules"]
    assert [r["measured"] for r in per_rule] == [5, 5, 5]
    assert per_rule[1]["verdict"] == "block"


def the_rules_of_batch(run, batch_id):
    return MicroBatch.objects.get(run=run, batch_id=batch_id).metrics["rules"]


def test_quarantine_reasons_add_up_the_quarantined_batches_most_rows_first(run):
    add(run, 6, "warn", [rule("value.min", failed=5, verdict="warn")], violations=5, reasons={"value.min": 5})
    summary = MicroBatch.objects.summary(run.pk, the_rules_of_batch(run, 0))
    assert summary["reasons"] == [("value.min", 6), ("flag.bad", 1)]  # batch 6 routed nothing to the rejects


def test_the_reject_sample_comes_from_the_first_quarantining_batches_in_order(run):
    summary = MicroBatch.objects.summary(run.pk, [])
    assert summary["reject_sample"] == [{"value": -1}, {"value": -2}, {"value": -3}]
    assert summary["rules"] == []


def test_a_run_without_batches_sums_to_zero():
    run = SimulatedRun().run
    summary = MicroBatch.objects.summary(run.pk, [rule("value.min")])
    assert summary["totals"] == {
        "batches": 0,
        "rows": 0,
        "violations": 0,
        "rejected": 0,
        "empty": 0,
        "first_rejected": None,
    }
    assert summary["rules"] == [{"failed": 0, "batches_failing": 0, "measured": 0, "verdict": "ok"}]
    assert (summary["reasons"], summary["reject_sample"]) == ([], [])
