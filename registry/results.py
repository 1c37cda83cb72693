"""The per-rule results of a micro-batch, read in one place.

Reports (JUnit, JSON) and OpenLineage facets read a batch's rule results only through
`rule_results`; today they live in `MicroBatch.metrics["rules"]`, and when they get a table of
their own only this function changes.
"""


def rule_results(batch):
    """A batch's rule results as dicts: rule, kind, column, failed, value, passed, verdict, severity, skipped, note."""
    return [_complete(r) for r in (batch.metrics or {}).get("rules", [])]


def _complete(result):
    verdict = result.get("verdict", "ok")
    skipped = bool(result.get("skipped"))
    return {
        "rule": result["rule"],
        # Older records (and hand-written ones) carry no kind: the rule's name is the best classification.
        "kind": result.get("kind") or result["rule"],
        "column": result.get("column"),
        "failed": int(result.get("failed") or 0),
        "value": result.get("value"),
        "passed": result.get("passed", skipped or (verdict == "ok" and not result.get("failed"))),
        "verdict": verdict,
        "severity": result.get("severity", "error"),
        "skipped": skipped,
        "note": result.get("note") or "",
    }
