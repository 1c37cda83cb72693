"""RuleResult: a batch's rule results as rows, written once per batch by Run.record_batch, replays included."""

from datetime import timedelta

import pytest
from django.utils import timezone
from simulate import OUTPUT, SimulatedRun

from contracts.checks import OBSERVE, compile_contract, judge, rule_key
from registry.models import Dataset, RuleResult, Run, owner_fields

pytestmark = pytest.mark.django_db


def judged(cv, failing=0, rows=10):
    """What the streaming writer records for a batch: the judge's results over the contract's rules."""
    compiled = compile_contract(cv.document)
    measured = {"rows": rows, "violations": failing, "value.mustBeGreaterOrEqualTo": failing}
    return judge(compiled, measured, OBSERVE).as_dict()


def record(run, cv, batch_id, failing=0, slice_key=""):
    now = timezone.now()
    metrics = judged(cv, failing)
    return run.record_batch(
        {
            "batch_id": batch_id,
            "status": "warn" if failing else "ok",
            "row_count": 10,
            "violations": failing,
            "metrics": {"rules": metrics["rules"], "reasons": metrics["reasons"]},
            "started_at": now - timedelta(seconds=1),
            "finished_at": now,
            "slice_key": slice_key,
        }
    )[0]


@pytest.fixture
def sim():
    sim = SimulatedRun("streaming-dq-rejects").start().gate()
    # The streaming writer creates its output dataset before the first batch.
    Dataset.objects.get_or_create(name=OUTPUT, defaults={"contract": sim.output.contract})
    return sim


def test_each_rule_of_a_batch_becomes_one_row_with_what_it_measured(sim):
    batch = record(sim.run, sim.output, 0, failing=3)
    results = list(batch.rule_results.order_by("position"))
    compiled = compile_contract(sim.output.document)
    assert [r.name for r in results] == [rule.name for rule in compiled.rules]
    failing = batch.rule_results.get(name="value.mustBeGreaterOrEqualTo")
    assert (failing.failed, failing.verdict, failing.severity, failing.column) == (3, "warn", "error", "value")
    assert failing.rule == rule_key(compiled.rule("value.mustBeGreaterOrEqualTo"))
    assert failing.threshold == 0 and failing.unit == "rows"
    assert failing.run == sim.run and failing.contract_version == sim.output
    assert failing.contract == sim.output.contract and failing.dataset.name == OUTPUT
    assert failing.recorded_at == batch.finished_at


def test_a_replayed_batch_replaces_its_rows_and_never_duplicates_them(sim):
    record(sim.run, sim.output, 0, failing=3)
    batch = record(sim.run, sim.output, 0, failing=1)
    rules = len(compile_contract(sim.output.document).rules)
    assert RuleResult.objects.count() == rules
    assert batch.rule_results.get(name="value.mustBeGreaterOrEqualTo").failed == 1


def test_a_batch_replayed_by_a_later_run_moves_its_rows_to_that_run(sim):
    key = "orders-test@20260101T000000Z"
    record(sim.run, sim.output, 4, failing=2, slice_key=key)
    sim.run.finish()
    later = Run.objects.create(scenario="streaming-dq-rejects", contract_version=sim.output, **owner_fields())
    batch = record(later, sim.output, 4, failing=2, slice_key=key)
    assert batch.replaced_run == sim.run
    assert set(RuleResult.objects.values_list("run", flat=True)) == {later.pk}
    assert RuleResult.objects.count() == len(compile_contract(sim.output.document).rules)


def test_a_batch_recorded_with_older_metrics_finds_keys_in_its_contract_version(sim):
    batch = sim.batch(6, failed=2, rejected=2)  # tests/simulate.py writes metrics without rule keys
    results = {r.name: r for r in batch.rule_results.all()}
    assert set(results) == {"value >= 0", "not_null"}
    assert results["value >= 0"].failed == 2
    assert results["value >= 0"].rule == "value.value____0"  # no rule of the contract has that name


def test_a_rule_keeps_its_key_across_versions_while_its_definition_stays(sim):
    document = dict(sim.output.document, version="0.2.0")
    before = {r.name: rule_key(r) for r in compile_contract(sim.output.document).rules}
    after = {r.name: rule_key(r) for r in compile_contract(document).rules}
    assert before == after
    changed = compile_contract(
        {
            **document,
            "schema": [
                {
                    **document["schema"][0],
                    "properties": [
                        {**p, "quality": [{"mustBeGreaterOrEqualTo": 1}]} if p["name"] == "value" else p
                        for p in document["schema"][0]["properties"]
                    ],
                }
            ],
        }
    )
    keys = {r.name: rule_key(r) for r in changed.rules}
    assert keys["value.mustBeGreaterOrEqualTo"] != before["value.mustBeGreaterOrEqualTo"]
    assert keys["value.required"] == before["value.required"]


def test_results_of_a_run_go_when_the_run_is_deleted(sim):
    record(sim.run, sim.output, 0, failing=1)
    assert Dataset.objects.get(name=OUTPUT).rule_results.exists()
    sim.run.delete()
    assert not RuleResult.objects.exists()
