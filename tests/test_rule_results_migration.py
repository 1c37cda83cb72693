"""The data migration that fills RuleResult from the per-rule results older batches keep in their metrics."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from contracts.checks import compile_contract, rule_keys

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("registry", "0013_rule_result")]
AFTER = [("registry", "0014_rule_results_from_metrics")]


def old_rules(failed):
    """Metrics as batches recorded them before rule keys: list position and name identify a rule."""
    return [
        {"rule": "value.required", "column": "value", "kind": "not_null", "level": "row", "failed": 0,
         "value": 0, "passed": True, "verdict": "ok", "severity": "error", "skipped": False, "note": ""},
        {"rule": "value.mustBeGreaterOrEqualTo", "column": "value", "kind": "compare", "level": "row",
         "failed": failed, "value": failed, "passed": not failed, "verdict": "warn" if failed else "ok",
         "severity": "error", "skipped": False, "note": ""},
        {"rule": "notes.text", "column": None, "kind": "text", "level": "skipped", "failed": 0, "value": None,
         "passed": True, "verdict": "ok", "severity": "info", "skipped": True, "note": "prose for people"},
    ]  # fmt: skip


@pytest.fixture
def migrator(demo_contracts):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_migration_writes_one_row_per_rule_of_every_old_batch(migrator):
    apps = migrator.loader.project_state(BEFORE).apps
    Run, MicroBatch = apps.get_model("registry", "Run"), apps.get_model("registry", "MicroBatch")
    Dataset = apps.get_model("registry", "Dataset")
    cv = apps.get_model("contracts", "ContractVersion").objects.get(
        contract__contract_id="demo.streaming.events_processed", version="0.1.0"
    )
    dataset = Dataset.objects.create(name="demo.streaming.events_processed", contract_id=cv.contract_id)
    run = Run.objects.create(scenario="streaming-dq-rejects", status="warn", contract_version=cv)
    now = timezone.now()
    for batch_id, failed in enumerate([0, 4, 2]):
        MicroBatch.objects.create(
            run=run,
            batch_id=batch_id,
            status="warn" if failed else "ok",
            row_count=10,
            violations=failed,
            metrics={"rules": old_rules(failed), "reasons": {}},
            started_at=now - timedelta(seconds=1),
            finished_at=now + timedelta(seconds=batch_id),
        )
    MicroBatch.objects.create(
        run=Run.objects.create(scenario="streaming-valid", status="ok"),
        batch_id=0,
        status="empty",
        metrics={},
        started_at=now,
        finished_at=now,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    RuleResult = executor.loader.project_state(AFTER).apps.get_model("registry", "RuleResult")

    assert RuleResult.objects.count() == 9
    compiled = compile_contract(cv.document)
    keys = dict(zip([r.name for r in compiled.rules], rule_keys(compiled.rules), strict=True))
    minimum = RuleResult.objects.filter(rule=keys["value.mustBeGreaterOrEqualTo"]).order_by("recorded_at")
    assert [r.failed for r in minimum] == [0, 4, 2]
    assert [r.verdict for r in minimum] == ["ok", "warn", "warn"]
    assert {(r.run_id, r.dataset_id, r.contract_version_id, r.threshold) for r in minimum} == {
        (run.pk, dataset.pk, cv.pk, 0)
    }
    skipped = RuleResult.objects.get(name="notes.text", batch__batch_id=1)
    assert (skipped.level, skipped.skipped_reason, skipped.verdict) == ("skipped", "prose for people", "ok")
    assert list(RuleResult.objects.filter(batch__batch_id=2).order_by("position").values_list("name", flat=True)) == [
        "value.required",
        "value.mustBeGreaterOrEqualTo",
        "notes.text",
    ]
