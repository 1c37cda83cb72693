"""The alerts sender against a real receiver on 127.0.0.1: retries, signature, idempotency, restarts, two senders."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from receivers import Receiver
from simulate import SimulatedRun, play

from registry.alerts import (
    LEASE_SLACK_SECONDS,
    Delivery,
    Destination,
    Subscription,
    claim,
    send_due,
    start_sender,
    stop_sender,
)

SECRET = "a shared secret"


def subscribe(url, secret=SECRET, name="ops"):
    destination = Destination.objects.create(name=name, url=url, secret=secret)
    Subscription.objects.create(name=f"{name}: everything", destination=destination)
    return destination


def eventually(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db
def test_a_receiver_that_fails_twice_gets_one_accepted_delivery_signed_and_with_one_key(settings):
    settings.DC43_ALERT_RETRY_SECONDS = 0
    with Receiver(answers=[500, 503], secret=SECRET) as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=4)
        assert send_due() == (0, 1)
        assert send_due() == (0, 1)
        assert send_due() == (1, 0)
        assert send_due() == (0, 0)  # accepted: never sent again
    statuses = [status for status, _, _ in receiver.requests]
    assert statuses == [500, 503, 200]
    keys = {headers["X-Dc43-Idempotency-Key"] for _, headers, _ in receiver.requests}
    assert len(keys) == 1
    assert len({body for _, _, body in receiver.requests}) == 1  # the same bytes on every retry
    assert all(receiver.verified(headers, body) for _, headers, body in receiver.requests)
    (accepted,) = receiver.accepted()
    assert accepted["idempotency_key"] == keys.pop()
    assert (accepted["type"], accepted["notification"], accepted["transition"]) == ("dc43.alert", "opened", "warn")
    delivery = Delivery.objects.get()
    assert (delivery.attempts, delivery.last_status, delivery.last_error) == (3, 200, "")
    assert delivery.delivered_at is not None


@pytest.mark.django_db
def test_a_forged_body_does_not_verify():
    with Receiver(secret=SECRET) as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        send_due()
    (_, headers, body) = receiver.requests[0]
    forged = json.dumps({**json.loads(body), "transition": "ok"}, sort_keys=True).encode()
    assert receiver.verified(headers, body)
    assert not receiver.verified(headers, forged)
    assert not Receiver(secret="another secret").verified(headers, body)


@pytest.mark.django_db
def test_without_a_secret_no_signature_header_is_sent():
    with Receiver() as receiver:
        subscribe(receiver.url, secret="")
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        send_due()
    (_, headers, _) = receiver.requests[0]
    assert "X-Dc43-Signature" not in headers
    assert headers["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_a_failed_delivery_waits_for_its_backoff_and_gives_up_after_the_cap(settings):
    settings.DC43_ALERT_RETRY_SECONDS = 30
    settings.DC43_ALERT_MAX_ATTEMPTS = 2
    with Receiver(answers=[500, 500, 500]) as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        before = timezone.now()
        assert send_due() == (0, 1)
        delivery = Delivery.objects.get()
        assert delivery.next_attempt_at >= before + timedelta(seconds=30)
        assert delivery.last_error == "HTTP 500"
        assert send_due() == (0, 0)  # not due yet
        Delivery.objects.update(next_attempt_at=timezone.now())
        assert send_due() == (0, 1)
    delivery.refresh_from_db()
    assert delivery.gave_up_at is not None
    assert len(receiver.requests) == 2


@pytest.mark.django_db
def test_a_refused_connection_and_a_redirect_are_failed_deliveries(settings):
    settings.DC43_ALERT_RETRY_SECONDS = 0
    with Receiver(answers=[302]) as receiver:
        with Receiver() as gone:
            subscribe(gone.url, name="nobody")  # closed below: its connections are refused
        subscribe(receiver.url, name="redirects")
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        send_due()
    errors = dict(Delivery.objects.values_list("destination__name", "last_error"))
    assert errors["redirects"] == "HTTP 302"
    assert "Connection refused" in errors["nobody"] or "URLError" in errors["nobody"]


@pytest.mark.django_db(transaction=True)
def test_an_outbox_written_before_a_restart_is_delivered_by_a_sender_started_afterwards(demo_contracts):
    with Receiver(secret=SECRET) as receiver:
        subscribe(receiver.url)
        run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)  # committed; no sender is running
        assert Delivery.objects.pending().count() == 1
        sender = start_sender(every=0.2)  # the site's sender, as a restarted process starts it
        try:
            assert eventually(lambda: len(receiver.accepted()) == 1)
        finally:
            stop_sender()
        assert not sender.is_alive()
    assert receiver.accepted()[0]["run"]["id"] == str(run.pk)


@pytest.mark.django_db(transaction=True)
def test_a_sender_that_died_holding_a_delivery_leaves_it_to_another_after_its_lease(demo_contracts, settings):
    with Receiver() as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        (claimed,) = claim(timezone.now())  # ...and its process is killed before it posts
        assert send_due() == (0, 0)  # another sender leaves it alone while the lease lasts
        after_lease = timezone.now() + timedelta(seconds=settings.DC43_ALERT_TIMEOUT_SECONDS + LEASE_SLACK_SECONDS + 1)
        Delivery.objects.filter(pk=claimed.pk).update(next_attempt_at=after_lease - timedelta(seconds=60))
        assert send_due() == (1, 0)
    assert len(receiver.accepted()) == 1


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_deliver_each_notification_once(demo_contracts):
    with Receiver() as receiver:
        for number in range(12):
            subscribe(receiver.url, name=f"hook {number}")
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        assert Delivery.objects.pending().count() == 12
        results = []

        def sender():
            try:
                results.append(send_due())
            finally:
                connection.close()

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    keys = [headers["X-Dc43-Idempotency-Key"] for _, headers, _ in receiver.requests]
    assert len(keys) == 12
    assert len(set(keys)) == 12
    assert sum(accepted for accepted, _ in results) == 12
    assert not Delivery.objects.pending().exists()
