"""The verdict vocabulary, and verdicts computed from measurements.

`ok`, `warn` and `block` are declared here once (with the run types): the registry's batch
and run statuses and the pipelines reuse them. `judge` turns what Spark measured into a verdict
per rule and per batch; docs/semantics.md says what each rule kind means.
"""

import math
from dataclasses import asdict, dataclass

from django.db import models

from contracts.rules import PREDICATE_KINDS, ROW, SKIPPED, accepts, rule_keys
from contracts.sla import KIND as SLA_KIND


class Verdict(models.TextChoices):
    OK = "ok"
    WARN = "warn"
    BLOCK = "block"


class RunType(models.TextChoices):
    """Observe records violations and the stream goes on; enforce stops what breaks an error rule."""

    OBSERVE = "observe"
    ENFORCE = "enforce"


OK, WARN, BLOCK = Verdict.OK, Verdict.WARN, Verdict.BLOCK
OBSERVE, ENFORCE = RunType.OBSERVE, RunType.ENFORCE
VERDICTS = list(Verdict.values)  # by rank: the worst wins
VERDICT_ORDER = {verdict: rank for rank, verdict in enumerate(VERDICTS)}


def worst(verdicts):
    return max(verdicts, key=VERDICT_ORDER.__getitem__, default=OK)


@dataclass
class RuleResult:
    rule: str
    column: str | None
    kind: str
    level: str
    failed: int
    value: float | int | None
    passed: bool
    verdict: str
    severity: str
    skipped: bool = False
    note: str = ""
    key: str = ""  # the rule's name across contract versions (`contracts.rules.rule_key`)
    threshold: object = None
    unit: str = "rows"

    def as_dict(self):
        return asdict(self)


@dataclass
class BatchVerdict:
    row_count: int
    violations: int
    verdict: str
    results: list
    run_type: str = ENFORCE

    @property
    def reasons(self):
        """Quarantine reasons with the rows that carry each: the row-level rules that failed."""
        return {r.rule: r.failed for r in self.results if r.level == ROW and r.failed}

    @property
    def failed_rules(self):
        return [r for r in self.results if not r.passed and not r.skipped]

    def as_dict(self):
        return {
            "rows": self.row_count,
            "violations": self.violations,
            "verdict": self.verdict,
            "run_type": self.run_type,
            "rules": [r.as_dict() for r in self.results],
            "reasons": self.reasons,
        }


def rule_verdict(rule, passed, run_type):
    if passed:
        return OK
    if run_type == ENFORCE and rule.severity == "error":
        return BLOCK
    return WARN


def judge(compiled, measured, run_type=ENFORCE):
    """Turn measurements into a verdict.

    `measured` holds `rows` (rows in the batch), `violations` (rows breaking at least one
    row-level rule), and per rule name the offending-row count (row and count metrics)
    or the measured value (rowCount, sql). A missing or null count means zero: an empty
    micro-batch breaks nothing.
    """
    rows = int(measured.get("rows") or 0)
    results = []
    for rule, key in zip(compiled.rules, rule_keys(compiled.rules), strict=True):
        results.append(_judge_rule(rule, measured.get(rule.name), rows, run_type, key))
    verdict = worst(r.verdict for r in results)
    return BatchVerdict(rows, int(measured.get("violations") or 0), verdict, results, run_type)


def _judge_rule(rule, raw, rows, run_type, key=""):
    def result(failed, value, passed, note, **extra):
        verdict = OK if extra.get("skipped") else rule_verdict(rule, passed, run_type)
        return RuleResult(
            rule.name,
            rule.column,
            rule.kind,
            rule.level,
            failed,
            value,
            passed,
            verdict,
            rule.severity,
            note=note,
            key=key,
            threshold=rule.threshold,
            unit=rule.unit,
            **extra,
        )

    if rule.level == SKIPPED:
        return result(0, None, True, rule.note, skipped=True)
    if isinstance(raw, dict) and "error" in raw:
        return result(0, None, False, raw["error"])
    if rule.kind == SLA_KIND:
        # An SLA measures a duration, not rows: a batch that gives it nothing to measure skips it.
        if raw is None or isinstance(raw, dict):
            return result(0, None, True, (raw or {}).get("skipped", "not measured"), skipped=True)
        return result(0, raw, accepts(rule.operator, rule.threshold, raw), rule.note)
    if rule.kind in ("row_count", "sql"):
        passed = accepts(rule.operator, rule.threshold, _number(raw)) if raw is not None else False
        note = rule.note or ("the query returned no value" if raw is None and rule.kind == "sql" else "")
        return result(0, raw, passed, note)
    failed = int(raw or 0)
    if rule.kind in PREDICATE_KINDS:
        value, passed = failed, failed == 0
    else:
        value = _percent(failed, rows) if rule.unit == "percent" else failed
        passed = accepts(rule.operator, rule.threshold, value)
    return result(failed, value, passed, rule.note)


def _percent(count, rows):
    return 0.0 if rows == 0 else round(100.0 * count / rows, 6)


def _number(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() and not math.isinf(number) else number
