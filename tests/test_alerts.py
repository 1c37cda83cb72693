"""The alerts listener: the event log's transitions become alerts and outbox rows, in the event's own transaction."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from simulate import SimulatedRun, play

from contracts.models import Contract, ContractVersion
from registry.alerts import (
    Alert,
    AlertState,
    Delivery,
    Destination,
    Notification,
    Subscription,
    Transition,
    backoff,
    renotify,
)
from registry.models import Run
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook():
    return Destination.objects.create(name="ops", url="http://127.0.0.1:8240/hook", secret="s3cret")


@pytest.fixture
def everything(hook):
    """Listens to every run, on every status transition."""
    return Subscription.objects.create(name="all", destination=hook)


def test_a_run_that_goes_warn_opens_one_alert_and_one_delivery_however_many_batches_warn(everything):
    run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=6)  # three warn batches, then complete warn
    assert run.status == "warn"
    alert = Alert.objects.get()
    assert (alert.pipeline_key, alert.level, alert.state, alert.run_id) == (
        "streaming-dq-rejects",
        "warn",
        "open",
        run.pk,
    )
    delivery = Delivery.objects.get()
    assert delivery.notification == Notification.OPENED
    assert delivery.payload["transition"] == "warn"
    assert delivery.payload["run"]["id"] == str(run.pk)
    assert delivery.key == f"dc43-alert-{alert.pk}-1-{everything.destination.pk}"


def test_the_next_failing_run_of_the_same_pipeline_updates_the_alert_and_notifies_only_a_change(everything):
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=4)
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=4)
    alert = Alert.objects.get()
    assert Delivery.objects.count() == 1  # warn again: the same condition, nothing new to say
    third = SimulatedRun("streaming-dq-rejects").start()
    third.gate()
    third.run.finish("failed", "the source went away")
    alert.refresh_from_db()
    assert (alert.level, alert.last_run_id, alert.detail) == ("failed", third.run.pk, "the source went away")
    assert list(Delivery.objects.order_by("created_at").values_list("notification", flat=True)) == [
        "opened",
        "changed",
    ]


def test_a_blocked_gate_opens_a_blocked_alert(everything):
    run = play(SimulatedRun("streaming-schema-break"), "schema-break")
    alert = Alert.objects.get()
    assert (alert.level, alert.run_id) == ("blocked", run.pk)
    assert "value" in alert.detail
    assert alert.contract.contract_id == "demo.streaming.events_processed"


def test_an_ok_run_opens_nothing(everything):
    play(SimulatedRun("streaming-valid"), "valid", batches=3)
    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()


def test_the_outbox_row_is_rolled_back_with_the_event_that_caused_it(everything):
    sim = SimulatedRun("streaming-dq-rejects").start().gate()

    def finish_then_fail():
        with transaction.atomic():
            sim.run.finish("failed", "crashed")
            raise RuntimeError("the commit never happens")

    with pytest.raises(RuntimeError):
        finish_then_fail()
    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()
    assert Run.objects.get(pk=sim.run.pk).status == "running"


def test_the_next_run_that_ends_ok_resolves_the_alert_and_tells_who_listens_for_ok(hook):
    Subscription.objects.create(name="recoveries", destination=hook, transitions=["warn", "ok"])
    play(SimulatedRun("streaming-valid"), "rejects", batches=4)
    recovered = play(SimulatedRun("streaming-valid"), "valid", batches=2)
    alert = Alert.objects.get()
    assert alert.state == AlertState.RESOLVED
    assert alert.resolved_by is None
    assert alert.resolution == f"run {recovered.pk} ended ok"
    assert alert.time_to_resolve > timedelta(0)
    resolved = Delivery.objects.get(notification=Notification.RESOLVED)
    assert resolved.payload["transition"] == "ok"
    assert resolved.payload["alert"]["state"] == "resolved"
    assert resolved.payload["run"]["id"] == str(recovered.pk)


def test_after_a_resolution_the_next_failure_opens_a_new_alert(everything):
    play(SimulatedRun("streaming-valid"), "rejects", batches=2)
    play(SimulatedRun("streaming-valid"), "valid", batches=2)
    play(SimulatedRun("streaming-valid"), "rejects", batches=2)
    assert list(Alert.objects.order_by("opened_at").values_list("state", flat=True)) == ["resolved", "open"]


def test_a_subscription_to_one_pipeline_hears_nothing_of_another(hook):
    subscription = Subscription.objects.create(name="only orders", destination=hook)
    subscription.pipelines.add(Pipeline.objects.get(key="orders-landing"))
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    assert Alert.objects.count() == 1  # the page still lists it
    assert not Delivery.objects.exists()


def test_a_subscription_chooses_runs_by_pipeline_contract_or_dataset(hook):
    by_contract = Subscription.objects.create(name="by contract", destination=hook)
    by_contract.contracts.add(Contract.objects.get(contract_id="demo.streaming.events_processed"))
    other = Destination.objects.create(name="other", url="http://127.0.0.1:8241/hook")
    by_pipeline = Subscription.objects.create(name="by pipeline", destination=other)
    by_pipeline.pipelines.add(Pipeline.objects.get(key="streaming-dq-rejects"))
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    assert set(Delivery.objects.values_list("destination__name", flat=True)) == {"ops", "other"}


def test_a_subscription_hears_only_its_transitions_and_disabled_ones_nothing(hook):
    Subscription.objects.create(name="failures only", destination=hook, transitions=["failed"])
    Subscription.objects.create(
        name="off", destination=Destination.objects.create(name="off", url="http://127.0.0.1:8242/"), enabled=False
    )
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    assert not Delivery.objects.exists()


def test_a_contract_support_channel_with_scope_notifications_is_a_destination(demo_contracts):
    version = ContractVersion.objects.resolve("demo.streaming.events_processed", "0.1.0")
    document = {
        **version.document,
        "support": [
            {"channel": "owners-hook", "url": "https://hooks.example.com/owners", "scope": "notifications"},
            {"channel": "chat", "url": "https://chat.example.com/room", "scope": "interactive"},
            {"channel": "mail", "url": "mailto:owners@example.com", "scope": "notifications"},
        ],
    }
    ContractVersion.objects.filter(pk=version.pk).update(document=document)  # as if the version had said so
    play(SimulatedRun("streaming-schema-break"), "schema-break")
    delivery = Delivery.objects.select_related("destination").get()
    assert delivery.destination.url == "https://hooks.example.com/owners"
    assert delivery.destination.contract.contract_id == "demo.streaming.events_processed"
    assert delivery.destination.name == "demo.streaming.events_processed support: owners-hook"


def test_an_open_alert_is_notified_again_after_the_interval_and_an_acknowledged_one_is_not(everything, settings):
    settings.DC43_ALERT_RENOTIFY_SECONDS = 60
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    alert = Alert.objects.get()
    assert renotify(timezone.now()) == 0  # notified a moment ago
    assert renotify(timezone.now() + timedelta(seconds=61)) == 1
    keys = list(Delivery.objects.order_by("created_at").values_list("key", "notification"))
    assert keys[1] == (f"dc43-alert-{alert.pk}-2-{everything.destination.pk}", "renotify")
    assert renotify(timezone.now() + timedelta(seconds=30)) == 0  # the interval starts again
    alert.acknowledge(None)
    assert renotify(timezone.now() + timedelta(seconds=3600)) == 0


def test_no_renotify_when_the_interval_is_0(everything, settings):
    settings.DC43_ALERT_RENOTIFY_SECONDS = 0
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    assert renotify(timezone.now() + timedelta(days=30)) == 0


def test_acknowledge_then_resolve_by_hand_records_who_and_when(everything, django_user_model):
    person = django_user_model.objects.create_user("oncall")
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    alert = Alert.objects.get()
    assert alert.acknowledge(person)
    assert not alert.acknowledge(person)
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", person)
    assert alert.time_to_acknowledge >= timedelta(0)
    assert alert.resolve(person)
    assert not alert.resolve(person)
    assert (alert.state, alert.resolved_by, alert.resolution) == ("resolved", person, "by hand, by oncall")


def test_backoff_doubles_and_stops_at_the_cap(settings):
    settings.DC43_ALERT_RETRY_SECONDS = 10
    settings.DC43_ALERT_RETRY_MAX_SECONDS = 60
    assert [backoff(n) for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]


def test_sla_breach_and_anomaly_are_conditions_of_their_own(everything):
    from registry.alerts import raise_alert

    run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    with transaction.atomic():
        raise_alert(run, Transition.SLA_BREACH, "no batch for 20 min")
    assert sorted(Alert.objects.values_list("condition", flat=True)) == ["sla_breach", "status"]


def test_an_anomaly_event_opens_an_anomaly_alert_that_says_the_value_and_the_band(hook):
    Subscription.objects.create(name="anomalies", destination=hook, transitions=["anomaly"])
    run = play(SimulatedRun("streaming-valid"), "valid", batches=2)
    anomaly = {
        "stream": "main",
        "batch_id": 7,
        "metric": "rowCount",
        "rule": "",
        "column": "",
        "value": 900,
        "lower": 4.5,
        "upper": 7.5,
        "strategy": "onlineNormal",
        "severity": "warning",
    }
    with transaction.atomic():
        run.append_event("anomaly", anomaly)
    alert = Alert.objects.get(condition="anomaly")
    assert alert.level == Transition.ANOMALY
    assert alert.detail == "rowCount = 900 outside [4.5, 7.5] (onlineNormal, batch 7)"
    assert Delivery.objects.filter(alert=alert).count() == 1


def test_by_default_a_subscription_hears_status_transitions_only_not_anomalies(everything):
    run = play(SimulatedRun("streaming-valid"), "valid", batches=2)
    with transaction.atomic():
        run.append_event("anomaly", {"metric": "rowCount", "value": 1, "lower": 2, "upper": 3, "strategy": "x"})
    assert Alert.objects.filter(condition="anomaly").count() == 1
    assert not Delivery.objects.exists()
