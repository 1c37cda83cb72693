"""The contract page's SLA trend: the worst value measured per run, in the SLA's unit, and the last breach."""

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone

from contracts.checks import compile_contract, rule_keys
from contracts.models import ContractVersion
from registry.models import Run

pytestmark = pytest.mark.django_db

DOCUMENT = {
    "apiVersion": "v3.1.0",
    "kind": "DataContract",
    "id": "sla.trend",
    "version": "1.0.0",
    "status": "active",
    "schema": [{"name": "events", "properties": [{"name": "ts", "physicalType": "timestamp"}]}],
    "slaProperties": [{"property": "latency", "value": 1, "unit": "h", "element": "ts"}],
}


def sla_result(key, value):
    return {
        "rule": "sla.latency@ts",
        "column": "ts",
        "kind": "sla",
        "level": "metric",
        "failed": 0,
        "value": value,
        "passed": value <= 1,
        "verdict": "ok" if value <= 1 else "warn",
        "severity": "warning",
        "skipped": False,
        "note": "",
        "key": key,
        "threshold": 1.0,
        "unit": "h",
    }


def test_the_contract_page_charts_the_worst_latency_of_each_run_and_names_the_last_breach(client, viewer):
    version = ContractVersion.from_text(yaml.safe_dump(DOCUMENT), status="active")
    version.save()
    (key,) = rule_keys(compile_contract(DOCUMENT).rules)
    for run_values in ([0.2, 0.4], [0.3, 1.75], [0.5]):
        run = Run.objects.create(scenario="sla-trend", requested_seconds=1, contract_version=version)
        for batch_id, value in enumerate(run_values):
            now = timezone.now()
            run.record_batch(
                {
                    "batch_id": batch_id,
                    "status": "ok" if value <= 1 else "warn",
                    "row_count": 2,
                    "violations": 0,
                    "metrics": {"rules": [sla_result(key, value)]},
                    "started_at": now,
                    "finished_at": now,
                }
            )
    client.force_login(viewer)
    html = client.get(reverse("contract-detail", args=["sla.trend"])).content.decode()

    row = html.split(f'id="trend-{key}"')[1].split("</tr>")[0]
    assert "SLA: 0.5 h now, 1.75 h at most" in row  # each run's worst batch: 0.4, 1.75, 0.5
    assert "breached at 1.75 h" in row
