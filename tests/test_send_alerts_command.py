"""`manage.py send_alerts`, and the serving process's sender: an outbox committed while no sender runs is delivered
by a process started afterwards (a site restarted between the event and the delivery loses nothing)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import command_env
from receivers import Receiver
from simulate import SimulatedRun, play

from registry.alerts import Delivery, Destination, Subscription

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]

ROOT = Path(__file__).resolve().parent.parent
SECRET = "shared between the site and the receiver"


def manage(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def subscribe(url):
    Subscription.objects.create(name="all", destination=Destination.objects.create(name="ops", url=url, secret=SECRET))


def test_send_alerts_once_delivers_what_an_earlier_process_committed():
    with Receiver(secret=SECRET) as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)  # this process never sends
        result = manage("send_alerts", "--once")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "1 delivered, 0 failed, 0 pending"
        again = manage("send_alerts", "--once")
    assert again.stdout.strip() == "0 delivered, 0 failed, 0 pending"
    (_, headers, body) = receiver.requests[0]
    assert len(receiver.requests) == 1
    assert receiver.verified(headers, body)
    assert Delivery.objects.get().delivered_at is not None


def test_send_alerts_retries_until_accepted_then_stops_cleanly_on_sigterm():
    with Receiver(answers=[500, 500], secret=SECRET) as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
        env = {**command_env(), "DC43_ALERT_RETRY_SECONDS": "0"}
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "send_alerts", "--every", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not receiver.accepted():
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert [status for status, _, _ in receiver.requests] == [500, 500, 200]
    assert len({headers["X-Dc43-Idempotency-Key"] for _, headers, _ in receiver.requests}) == 1


def test_a_site_started_after_the_event_delivers_its_outbox():
    from browser.conftest import serving
    from processes import database_url_of_tests

    with Receiver(secret=SECRET) as receiver:
        subscribe(receiver.url)
        play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)  # the site is down meanwhile
        with serving("alerts-restart", DATABASE_URL=database_url_of_tests(), DC43_ALERT_SEND_SECONDS="1"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not receiver.accepted():
                time.sleep(0.1)
    assert len(receiver.accepted()) == 1
