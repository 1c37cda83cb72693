"""docs/audit.md: every ORM example runs against the registry a real quarantine run leaves behind."""

import re
from pathlib import Path

import pytest

from pipelines.scenarios import run_streaming_scenario

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

DOC = Path(__file__).resolve().parent.parent / "docs" / "audit.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_every_example_in_the_audit_cookbook_runs_and_answers(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    quarantine = run_streaming_scenario("streaming-dq-rejects", seconds=2)
    blocked = run_streaming_scenario("streaming-schema-break")
    assert (quarantine.status, blocked.status) == ("warn", "blocked")

    namespace = {}
    code = blocks()
    assert len(code) >= 8
    for block in code:
        exec(compile(block, str(DOC), "exec"), namespace)

    totals = quarantine.totals()
    assert namespace["published"] and {p[2] for p in namespace["published"]} == {"0.1.0"}
    assert namespace["checked_by_status"] == {"warn": len(namespace["published"])}
    assert namespace["quarantined"] == {str(quarantine.id): totals["rejected"]}
    assert namespace["run"] == quarantine
    assert sum(b[2] for b in namespace["batches"]) == totals["rows"]
    assert namespace["failures_per_rule"] == {"value.mustBeGreaterOrEqualTo": totals["rejected"]}
    failing = quarantine.batches.filter(rejected_rows__gt=0)
    assert namespace["rule_failures"]["batches"] == failing.count()
    assert namespace["rule_failures"]["rows"] == totals["rejected"]
    assert namespace["rule_failures"]["first"] == failing.order_by("batch_id").first().finished_at
    assert namespace["failing_since"] == "0.1.0"
    assert (
        len(namespace["reject_paths"]) == quarantine.dataset_versions.filter(dataset__name__endswith="rejects").count()
    )
    assert namespace["started_by"] == "python"
    assert (
        namespace["not_ok"] == [("streaming-schema-break", "blocked", blocked.reason)]
        or ("streaming-schema-break", "blocked", blocked.reason) in namespace["not_ok"]
    )
    assert namespace["timeline"][-1][1] == "complete"
