"""SLA results on the run page (a badge per batch) and in the alerts (a breach opens the SLA alert)."""

import pytest
from django.utils import timezone
from markup import by_id, elements

from registry.alerts import Alert, Condition
from registry.models import Run

pytestmark = pytest.mark.django_db


def sla(value, verdict, skipped=False):
    return {
        "rule": "sla.latency@ts",
        "column": "ts",
        "kind": "sla",
        "level": "metric",
        "failed": 0,
        "value": value,
        "passed": verdict == "ok",
        "verdict": verdict,
        "severity": "warning",
        "skipped": skipped,
        "note": "",
        "key": "ts.sla.0123456789",
        "threshold": 1.0,
        "unit": "h",
    }


def record(run, batch_id, result):
    now = timezone.now()
    run.record_batch(
        {
            "batch_id": batch_id,
            "status": result["verdict"],
            "row_count": 3,
            "violations": 0,
            "metrics": {"rules": [result]},
            "started_at": now,
            "finished_at": now,
        }
    )


def test_each_batch_shows_its_sla_badge_with_the_measured_value_and_verdict(client, viewer):
    run = Run.objects.create(scenario="sla-page", requested_seconds=1)
    record(run, 0, sla(0.25, "ok"))
    record(run, 1, sla(1.5, "warn"))
    record(run, 2, sla(None, "ok", skipped=True))
    client.force_login(viewer)
    html = client.get(run.get_absolute_url()).content.decode()

    badges = [e for e in elements(html, "span") if "sla-badge" in e.attrs.get("class", "")]
    # One per measured batch, in batch order; the skipped batch 2 measured nothing and shows none.
    assert [(e.text, e.attrs["class"]) for e in badges] == [
        ("SLA latency 0.25 h", "sla-badge sla-ok small"),
        ("SLA latency 1.5 h", "sla-badge sla-warn small"),
    ]
    assert "at most 1.0 h" in badges[1].attrs["title"]
    assert by_id(html, "batch-main-2")


def test_a_breach_opens_the_pipelines_sla_alert_once_and_a_met_sla_opens_none():
    run = Run.objects.create(scenario="sla-alerts", requested_seconds=1)
    record(run, 0, sla(0.5, "ok"))
    assert not Alert.objects.filter(condition=Condition.SLA_BREACH).exists()
    record(run, 1, sla(1.5, "warn"))
    record(run, 2, sla(2.5, "warn"))
    alert = Alert.objects.get(pipeline_key="sla-alerts", condition=Condition.SLA_BREACH)
    assert "sla.latency@ts measured 1.5 h (at most 1.0 h)" in alert.detail
