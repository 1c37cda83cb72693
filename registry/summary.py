"""A run's figures summed over all its batches and rule results, by the database, with plain ORM aggregation.

Per-rule figures come from `RuleResult` rows (one per rule and batch), grouped by the rule's key:
no JSON is unpacked to count a rule. Only the reject sample, which is rows of data rather than
figures, is still read from the batches' metrics, as a key of a JSON field.
"""

from django.conf import settings
from django.db.models import Count, Min, Q, Subquery, Sum

from contracts.checks import ROW, SKIPPED, Verdict


def batch_summary(batches, results):
    """Sums over every batch of a run, in six queries whatever its size.

    `batches` are the run's MicroBatch rows and `results` its RuleResult rows, as querysets.

    Returns {"totals": {...}, "rules": [per rule, in the contract's order: name, key, column,
    severity, note, failed rows, batches failing, batches measured, batches skipped, worst
    verdict], "reasons": [(reason, rows) of quarantined rows, most rows first], "reject_sample":
    [the rejected rows kept as a sample, first batch first]}.
    """
    batches = batches.order_by()
    totals = batches.aggregate(
        batches=Count("id"),
        rows=Sum("row_count"),
        violations=Sum("violations"),
        rejected=Sum("rejected_rows"),
        empty=Count("id", filter=Q(status="empty")),
        first_rejected=Min("batch_id", filter=Q(rejected_rows__gt=0)),
    )
    totals = {key: value or 0 for key, value in totals.items() if key != "first_rejected"} | {
        "first_rejected": totals["first_rejected"]
    }
    results = results.order_by()
    # Three small reads instead of one big grouping: what each rule is (from the newest batch, whose
    # results list every rule of the run's contract version), how many batches measured it (the
    # (run, rule) index alone), and what failed (the index of failing results only).
    newest = batches.order_by("-stream", "-batch_id").values("pk")[:1]
    described = results.filter(batch=Subquery(newest)).values(
        "rule", "name", "column", "severity", "level", "note", "skipped_reason", "position"
    )
    measured = dict(results.values("rule").annotate(n=Count("*")).values_list("rule", "n"))
    failures = {
        f["rule"]: f
        for f in results.filter(Q(failed__gt=0) | ~Q(verdict=Verdict.OK))
        .values("rule")
        .annotate(
            failed_rows=Sum("failed"),  # not `failed`: the filters beside it must read the column, not its sum
            batches_failing=Count("batch", filter=Q(failed__gt=0)),
            blocks=Count("batch", filter=Q(verdict=Verdict.BLOCK)),
            warns=Count("batch", filter=Q(verdict=Verdict.WARN)),
        )
    }
    rules = []
    for rule in sorted(described, key=lambda r: (r["position"], r["rule"])):
        failed = failures.get(rule["rule"], {})
        count = measured.get(rule["rule"], 0)
        rules.append(
            {
                "rule": rule["name"],
                "key": rule["rule"],
                "column": rule["column"],
                "severity": rule["severity"],
                "note": rule["skipped_reason"] or rule["note"] or "",
                "failed": failed.get("failed_rows") or 0,
                "batches_failing": failed.get("batches_failing", 0),
                "measured": count,
                "skipped": count if rule["level"] == SKIPPED else 0,
                "verdict": Verdict.BLOCK
                if failed.get("blocks")
                else Verdict.WARN
                if failed.get("warns")
                else Verdict.OK,
            }
        )
    # The reasons a quarantined row carries are the row-level rules it broke, counted in the batches that routed rows.
    reasons = [
        (r["name"], r["rows"])
        for r in results.filter(failed__gt=0, level=ROW, batch__rejected_rows__gt=0)
        .values("name")
        .annotate(rows=Sum("failed"))
        .order_by("-rows", "name")
    ]
    samples = batches.filter(rejected_rows__gt=0).order_by("stream", "batch_id")
    samples = samples.values_list("metrics__reject_sample", flat=True)[: settings.DC43_REJECT_SAMPLE_SIZE]
    sample = [row for rows in samples if isinstance(rows, list) for row in rows if isinstance(row, dict)]
    return {"totals": totals, "rules": rules, "reasons": reasons, "reject_sample": sample}
