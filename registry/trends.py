"""A rule's history across runs, from RuleResult rows: the contract page's trends and the rule page.

Charts are geometry computed here and drawn by templates as SVG, like the run page's chart,
so they read without JavaScript. Every query reads one index range of `RuleResult` (see its
Meta): a rule's newest results, its failures, or its worst batches, never the whole history.
"""

from dataclasses import dataclass

from django.db.models import Max, Sum

from contracts.checks import compile_contract, rule_keys
from contracts.sla import KIND as SLA_KIND
from registry.models import MicroBatch, RuleResult, Run

SPARK_RUNS = 20  # the runs a contract page's sparkline covers
RULE_BATCHES = 200  # the batches a rule page charts
WORST_BATCHES = 10


@dataclass
class RuleTrend:
    """One rule of a contract's newest version, with its recent failure rates and failures."""

    name: str
    key: str
    column: str
    spark: dict | None = None
    last_failure: RuleResult | None = None
    first_failure: RuleResult | None = None
    unit: str = ""  # an SLA's unit: its sparkline charts the worst measured value per run, not a failure rate


def rule_trends(contract, runs=SPARK_RUNS):
    """Per rule of the contract's newest version: a sparkline of its failure rate over the contract's
    last `runs` runs, its last failure, and its first failure (the version in force when failures started)."""
    newest = contract.versions.order_by("-sort_key").first()
    if newest is None:
        return []
    try:
        rules = compile_contract(newest.document).rules
    except ValueError:
        return []
    keys = dict(zip(rule_keys(rules), rules, strict=True))
    # No join in these two: joined, PostgreSQL plans them as big parallel jobs that take longer to start than to run.
    recent = list(
        Run.objects.filter(contract_version__in=list(contract.versions.values_list("pk", flat=True)))
        .order_by("-started_at")
        .values_list("pk", flat=True)[:runs]
    )
    recent.reverse()
    rows = dict(
        MicroBatch.objects.filter(run__in=recent)
        .order_by()
        .values("run_id")
        .annotate(rows=Sum("row_count"))
        .values_list("run_id", "rows")
    )
    failed = {
        (f["run_id"], f["rule"]): f["failed_rows"]
        for f in RuleResult.objects.filter(run__in=recent, rule__in=list(keys))
        .order_by()
        .values("run_id", "rule")
        .annotate(failed_rows=Sum("failed"))
    }
    trends = []
    failing = RuleResult.objects.filter(contract=contract, failed__gt=0).select_related("run", "contract_version")
    slas = [key for key, rule in keys.items() if rule.kind == SLA_KIND]
    if slas:
        trends_of_slas = sla_trends(contract, {key: keys.pop(key) for key in slas}, recent)
    for key, rule in keys.items():
        rates = [failure_rate(failed[pk, key], rows.get(pk)) for pk in recent if (pk, key) in failed]
        trends.append(
            RuleTrend(
                name=rule.name,
                key=key,
                column=rule.column or "",
                spark=sparkline(rates),
                last_failure=failing.filter(rule=key).order_by("-recorded_at").first(),
                first_failure=failing.filter(rule=key).order_by("recorded_at").first(),
            )
        )
    return trends + (trends_of_slas if slas else [])


def sla_trends(contract, rules, recent):
    """An SLA's trend: the worst value it measured in each recent run (its unit), and its breaches.

    An SLA fails no rows, so its failure rate says nothing: the measured duration is what moves.
    """
    worst = {
        (w["run_id"], w["rule"]): w["worst"]
        for w in RuleResult.objects.filter(run__in=recent, rule__in=list(rules))
        .order_by()
        .values("run_id", "rule")
        .annotate(worst=Max("measured"))
        if w["worst"] is not None
    }
    breaches = RuleResult.objects.filter(contract=contract, verdict__in=["warn", "block"]).select_related(
        "run", "contract_version"
    )
    trends = []
    for key, rule in rules.items():
        values = [worst[pk, key] for pk in recent if (pk, key) in worst]
        spark = sparkline(values)
        if spark:
            spark.update(now=round(values[-1], 3), peak=round(max(values), 3))
        trends.append(
            RuleTrend(
                name=rule.name,
                key=key,
                column=rule.column or "",
                spark=spark,
                last_failure=breaches.filter(rule=key).order_by("-recorded_at").first(),
                first_failure=breaches.filter(rule=key).order_by("recorded_at").first(),
                unit=rule.unit,
            )
        )
    return trends


def failure_rate(failed, rows):
    """The share of a run's rows that broke the rule, 0..1."""
    return min((failed or 0) / rows, 1.0) if rows else 0.0


def sparkline(rates, width=120, height=24):
    """Polyline points for rates in 0..1 (oldest first); None with no point."""
    if not rates:
        return None
    top = max(max(rates), 1e-9)
    step = width / max(len(rates) - 1, 1)
    points = [(round(i * step, 1), round(height - 2 - (height - 4) * r / top, 1)) for i, r in enumerate(rates)]
    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "last": points[-1],
        "peak": round(100 * max(rates), 2),
        "now": round(100 * rates[-1], 2),
        "runs": len(rates),
    }


class RulePage:
    """A rule's history under a contract: failures per batch over time, version changes marked, worst batches."""

    def __init__(self, contract, key, limit=RULE_BATCHES):
        self.contract = contract
        self.key = key
        results = RuleResult.objects.of_rule(key, contract=contract)
        # Plain values, not model rows: a chart of 200 bars needs seven figures each.
        newest = list(
            results.order_by("-recorded_at").values(
                "run_id",
                "name",
                "column",
                "kind",
                "failed",
                "verdict",
                "recorded_at",
                "batch__batch_id",
                "batch__row_count",
                "contract_version__version",
            )[:limit]
        )
        newest.reverse()
        self.results = newest
        self.latest = newest[-1] if newest else None
        self.worst = list(
            results.failing()
            .select_related("batch", "run", "contract_version")
            .only(
                "failed",
                "verdict",
                "recorded_at",
                "batch__batch_id",
                "batch__row_count",
                "run__id",
                "run__scenario",
                "run__started_at",
                "contract_version__version",
            )
            .order_by("-failed", "-recorded_at")[:WORST_BATCHES]
        )
        self.chart = rule_chart(newest)


def rule_chart(results, width=760, height=160, pad=28):
    """Bars of failed rows per batch (oldest left) and a marker where the contract version changed."""
    if not results:
        return None
    top = max(max(r["failed"] for r in results), 1)
    plot = height - pad
    slot = (width - pad) / len(results)
    bar = min(max(slot * 0.7, 1), 24)
    bars, changes, previous = [], [], None
    for i, r in enumerate(results):
        version = r["contract_version__version"] or "—"
        x = pad + i * slot
        if previous is not None and version != previous:
            changes.append({"x": round(x, 1), "version": version})
        previous = version
        h = plot * r["failed"] / top
        bars.append(
            {
                "x": round(x + (slot - bar) / 2, 1),
                "w": round(bar, 1),
                "y": round(plot - h, 1),
                "h": round(h, 1),
                "failed": r["failed"],
                "verdict": r["verdict"],
                "version": version,
                # Written here, not by template filters: 200 titles are most of the page's rendering.
                "title": (
                    f"batch {r['batch__batch_id']} of run {r['run_id']} ({version}), "
                    f"{r['recorded_at']:%Y-%m-%d %H:%M:%S}: {r['failed']} of {r['batch__row_count']} rows failed"
                ),
            }
        )
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "plot": plot,
        "top": top,
        "bars": bars,
        "changes": changes,
        "first_version": bars[0]["version"],
        "first_at": results[0]["recorded_at"],
        "last_at": results[-1]["recorded_at"],
        "label_y": height - 8,
    }
