"""The alert figures on a contract page: time to notify, acknowledge and repair, beside the ODCS SLA it declares."""

from datetime import timedelta

import pytest
from django.urls import reverse
from simulate import SimulatedRun, play

from contracts.models import ContractVersion
from registry.alerts import Alert, Delivery, Destination, Subscription
from registry.templatetags.alerts import duration

pytestmark = pytest.mark.django_db

CONTRACT = "demo.streaming.events_processed"


def test_a_contract_without_alerts_says_so(user_client):
    html = user_client.get(reverse("contract-detail", args=[CONTRACT])).content.decode()
    assert 'id="alert-figures"' in html
    assert "No alert yet" in html


def test_the_figures_come_from_the_alerts_of_runs_checked_against_the_contract(user_client, django_user_model):
    destination = Destination.objects.create(name="ops", url="http://127.0.0.1:8240/hook")
    Subscription.objects.create(name="all", destination=destination)
    version = ContractVersion.objects.resolve(CONTRACT, "0.1.0")
    sla = [
        {"property": "timeToNotify", "value": 15, "unit": "m"},
        {"property": "timeToRepair", "value": 4, "unit": "h"},
    ]
    ContractVersion.objects.filter(pk=version.pk).update(document={**version.document, "slaProperties": sla})
    play(SimulatedRun("streaming-schema-break"), "schema-break")
    alert = Alert.objects.get()
    opened = alert.opened_at
    Delivery.objects.update(delivered_at=opened + timedelta(seconds=42))
    Alert.objects.update(
        state="resolved",
        acknowledged_at=opened + timedelta(minutes=3, seconds=5),
        resolved_at=opened + timedelta(hours=2, minutes=10),
    )
    html = user_client.get(reverse("contract-detail", args=[CONTRACT])).content.decode()
    figures = html[html.index('id="alert-figures"') :]
    assert "42 s" in figures
    assert "3 min 5 s" in figures
    assert "2 h 10 min" in figures
    assert "15 m" in figures and "4 h" in figures
    assert "<code>timeToNotify</code>" in figures


def test_durations_read_as_people_say_them():
    assert duration(timedelta(seconds=9)) == "9 s"
    assert duration(timedelta(minutes=3)) == "3 min"
    assert duration(timedelta(days=1, hours=4, minutes=2)) == "1 d 4 h"
    assert duration(None) == "—"
