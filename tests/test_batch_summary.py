"""MicroBatch.objects.summary: a run's sums over all its batches and rule results, added up by the database."""

from datetime import timedelta

import pytest
from django.utils import timezone
from simulate import SimulatedRun

from registry.models import MicroBatch, RuleResult

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


def add(run, batch_id, status, rules, rows=10, violations=0, rejected=0, sample=None):
    now = timezone.now()
    metrics = {
        "rules": rules,
        "reasons": {r["rule"]: r["failed"] for r in rules if r["level"] == "row" and r["failed"]},
    }
    if sample:
        metrics["reject_sample"] = sample
    batch = MicroBatch.objects.create(
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
    RuleResult.record(batch)  # as Run.record_batch does in the batch's transaction
    return batch


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
            rule("flag.bad", failed=1, verdict="warn"),
        ],
        violations=2,
        rejected=2,
        sample=[{"value": -3}],
    )
    return run


def figures(rule):
    return {k: rule[k] for k in ("failed", "batches_failing", "measured", "verdict")}


def test_totals_rules_reasons_and_sample_cost_six_queries_whatever_the_run(run, django_assert_num_queries):
    with django_assert_num_queries(6):
        summary = MicroBatch.objects.summary(run.pk)
    assert summary["totals"] == {
        "batches": 5,
        "rows": 40,
        "violations": 6,
        "rejected": 6,
        "empty": 1,
        "first_rejected": 1,
    }


def test_each_rule_sums_its_failed_rows_batches_and_worst_verdict_in_the_contracts_order(run):
    per_rule = MicroBatch.objects.summary(run.pk)["rules"]
    assert [r["rule"] for r in per_rule] == ["value.min", "flag.nulls", "x.text", "flag.bad"]
    assert [figures(r) for r in per_rule] == [
        {"failed": 6, "batches_failing": 2, "measured": 5, "verdict": "warn"},
        # a metric rule's rows count even in a batch it passed (under its threshold)
        {"failed": 10, "batches_failing": 2, "measured": 5, "verdict": "block"},
        {"failed": 0, "batches_failing": 0, "measured": 5, "verdict": "ok"},
        {"failed": 1, "batches_failing": 1, "measured": 1, "verdict": "warn"},
    ]
    skipped = per_rule[2]
    assert (skipped["skipped"], skipped["note"]) == (5, "not run by dc43")


def test_a_batch_listing_its_rules_in_another_order_counts_for_the_same_rules(run):
    add(run, 5, "warn", [rule("flag.nulls", "metric", failed=1, verdict="warn"), rule("value.min")])
    per_rule = MicroBatch.objects.summary(run.pk)["rules"]
    by_name = {r["rule"]: r for r in per_rule}
    assert (by_name["value.min"]["measured"], by_name["flag.nulls"]["measured"]) == (6, 6)
    assert by_name["flag.nulls"]["verdict"] == "block"


def test_quarantine_reasons_add_up_the_quarantined_batches_most_rows_first(run):
    add(run, 6, "warn", [rule("value.min", failed=5, verdict="warn")], violations=5)
    summary = MicroBatch.objects.summary(run.pk)
    assert summary["reasons"] == [("value.min", 6), ("flag.bad", 1)]  # batch 6 routed nothing to the rejects


def test_the_reject_sample_comes_from_the_first_quarantining_batches_in_order(run):
    summary = MicroBatch.objects.summary(run.pk)
    assert summary["reject_sample"] == [{"value": -1}, {"value": -2}, {"value": -3}]


def test_a_run_without_batches_sums_to_zero():
    run = SimulatedRun().run
    summary = MicroBatch.objects.summary(run.pk)
    assert summary["totals"] == {
        "batches": 0,
        "rows": 0,
        "violations": 0,
        "rejected": 0,
        "empty": 0,
        "first_rejected": None,
    }
    assert (summary["rules"], summary["reasons"], summary["reject_sample"]) == ([], [], [])
