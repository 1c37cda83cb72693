"""Anomalies found as batches are recorded: an event on the run, a badge on the batch and a timeline entry
with the value, the band and the strategy; the verdict changes only when the contract says severity: error."""

from datetime import timedelta

import pytest
from django.utils import timezone
from simulate import OUTPUT, SimulatedRun

from contracts.checks import OBSERVE, compile_contract, judge
from contracts.models import ContractVersion
from registry.models import Dataset, Run

pytestmark = pytest.mark.django_db


def watched_version(*settings):
    first = ContractVersion.objects.resolve(OUTPUT, "0.1.0")
    document = {
        **first.document,
        "version": "0.3.0",
        "customProperties": [{"property": "dc43.anomaly", "value": list(settings)}],
    }
    cv = ContractVersion(contract=first.contract, version="0.3.0", document=document)
    cv.save()
    Dataset.objects.get_or_create(name=OUTPUT, defaults={"contract": first.contract})
    return cv


def play(cv, rows, failing=None, minutes_ago=5):
    """A run under `cv` whose batch i has rows[i] rows (failing[i] of them below 0)."""
    run = SimulatedRun("streaming-dq-rejects").start().run
    Run.objects.filter(pk=run.pk).update(contract_version=cv)
    compiled = compile_contract(cv.document)
    start = timezone.now() - timedelta(minutes=minutes_ago)
    for i, n in enumerate(rows):
        bad = (failing or [0] * len(rows))[i]
        verdict = judge(compiled, {"rows": n, "violations": bad, "value.mustBeGreaterOrEqualTo": bad}, OBSERVE)
        run.record_batch(
            {
                "batch_id": i,
                "status": verdict.verdict,
                "row_count": n,
                "violations": bad,
                "metrics": {"rules": [r.as_dict() for r in verdict.results]},
                "started_at": start + timedelta(seconds=i),
                "finished_at": start + timedelta(seconds=i, milliseconds=500),
            }
        )
    return run


STEADY = [10, 12, 10, 12, 10, 12]


def test_a_row_count_spike_is_an_anomaly_event_with_its_value_band_and_strategy():
    cv = watched_version({"metric": "rowCount", "strategy": "onlineNormal", "sigmas": 3})
    run = play(cv, [*STEADY, 40, 11])
    (event,) = run.events.filter(kind="anomaly")
    payload = event.payload
    assert (payload["batch_id"], payload["metric"], payload["value"], payload["strategy"]) == (
        6,
        "rowCount",
        40.0,
        "onlineNormal",
    )
    assert (payload["lower"], payload["upper"], payload["severity"]) == (8.0, 14.0, "warning")
    assert run.batches.get(batch_id=6).status == "ok"  # a warning never changes the verdict


def test_a_failure_rate_jump_is_flagged_by_the_relative_rate_of_change():
    cv = watched_version(
        {"metric": "failureRate", "rule": "value.mustBeGreaterOrEqualTo", "strategy": "relativeRateOfChange"}
    )
    run = play(cv, [10] * 4, failing=[2, 2, 5, 2])
    flagged = [(e.payload["batch_id"], e.payload["rule"]) for e in run.events.filter(kind="anomaly")]
    assert flagged == [(2, "value.mustBeGreaterOrEqualTo"), (3, "value.mustBeGreaterOrEqualTo")]


def test_series_run_across_runs_of_the_contract():
    cv = watched_version({"metric": "rowCount", "strategy": "onlineNormal", "min_points": 5})
    play(cv, STEADY, minutes_ago=10)
    later = play(cv, [40])
    assert later.events.filter(kind="anomaly").count() == 1


def test_an_anomaly_of_severity_error_counts_against_the_batch():
    cv = watched_version({"metric": "rowCount", "strategy": "onlineNormal", "severity": "error"})
    run = play(cv, [*STEADY, 40])
    assert run.batches.get(batch_id=6).status == "warn"
    run.finish()
    assert run.status == "warn"


def test_a_contract_without_the_property_watches_nothing():
    run = play(ContractVersion.objects.resolve(OUTPUT, "0.1.0"), [*STEADY, 400])
    assert not run.events.filter(kind="anomaly").exists()


def test_the_run_page_shows_the_badge_and_the_timeline_entry(client, viewer):
    cv = watched_version({"metric": "rowCount", "strategy": "onlineNormal"})
    run = play(cv, [*STEADY, 40])
    client.force_login(viewer)
    html = client.get(run.get_absolute_url()).content.decode()
    badge = html.split('id="batch-main-6"')[1].split("</li>")[0]
    assert "anomaly: rowCount" in badge
    assert "Anomaly in batch 6: rowCount" in html
    assert "value 40 outside 8 .. 14 (onlineNormal, warning)" in html
