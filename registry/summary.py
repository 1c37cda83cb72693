"""A run's figures summed over all its batches and rule results, by the database, with plain ORM aggregation.

Per-rule figures come from `RuleResult` rows (one per rule and batch), grouped by the rule's key:
no JSON is unpacked to count a rule. Only the reject sample, which is rows of data rather than
figures, is still read from the batches' metrics, as a key of a JSON field.
"""

from django.conf import settings
from django.db.models import Count, Max, Min, Q, Sum

from contracts.checks import ROW, SKIPPED, Verdict


def batch_summary(batches, results):
    """Sums over every batch of a run, in four queries whatever its size.

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
    rules = [
        {
            "rule": figures["name"],
            "key": figures["rule"],
            "column": figures["column"],
            "severity": figures["severity"],
            "note": figures["skip_note"] or figures["rule_note"] or "",
            "failed": figures["failed_rows"] or 0,
            "batches_failing": figures["batches_failing"],
            "measured": figures["measured"],
            "skipped": figures["measured"] if figures["level"] == SKIPPED else 0,
            "verdict": Verdict.BLOCK if figures["blocks"] else Verdict.WARN if figures["warns"] else Verdict.OK,
        }
        for figures in results.values("rule", "name", "column", "severity", "level")
        .annotate(
            first=Min("position"),
            failed_rows=Sum("failed"),  # not `failed`: the filters beside it must read the column, not its sum
            batches_failing=Count("id", filter=Q(failed__gt=0)),
            measured=Count("id"),
            blocks=Count("id", filter=Q(verdict=Verdict.BLOCK)),
            warns=Count("id", filter=Q(verdict=Verdict.WARN)),
            rule_note=Max("note"),
            skip_note=Max("skipped_reason"),
        )
        .order_by("first", "rule")
    ]
    # The reasons a quarantined row carries are the row-level rules it broke, counted in the batches that routed rows.
    reasons = [
        (r["name"], r["rows"])
        for r in results.filter(level=ROW, failed__gt=0, batch__rejected_rows__gt=0)
        .values("name")
        .annotate(rows=Sum("failed"))
        .order_by("-rows", "name")
    ]
    samples = batches.filter(rejected_rows__gt=0).order_by("stream", "batch_id")
    samples = samples.values_list("metrics__reject_sample", flat=True)[: settings.DC43_REJECT_SAMPLE_SIZE]
    sample = [row for rows in samples if isinstance(rows, list) for row in rows if isinstance(row, dict)]
    return {"totals": totals, "rules": rules, "reasons": reasons, "reject_sample": sample}
