"""Sending lineage (registry.lineage): to a real HTTP receiver on loopback, to a file, or not at all.

Runs are played through the model verbs (tests/simulate.py) with real commits, so the events
leave through the after-commit hook and the sender thread exactly as a Spark run's do.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from registry import lineage
from tests.openlineage_schema import problems
from tests.simulate import SimulatedRun, play

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVER_PORT = 8261


class Receiver(ThreadingHTTPServer):
    """An OpenLineage endpoint that keeps what it accepts; it refuses the first `failures` posts with a 503."""

    def __init__(self, port, failures=0):
        super().__init__(("127.0.0.1", port), ReceiverHandler)
        self.accepted, self.refused, self.failures, self.paths = [], 0, failures, set()
        self.lock = threading.Lock()


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        with server.lock:
            server.paths.add(self.path)
            refuse = server.failures > 0
            if refuse:
                server.failures -= 1
                server.refused += 1
            else:
                server.accepted.append(json.loads(body))
        self.send_response(503 if refuse else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    def start(failures=0):
        server = Receiver(RECEIVER_PORT, failures)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        settings.OPENLINEAGE_URL = f"http://127.0.0.1:{RECEIVER_PORT}"
        return server

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def lineage_off_by_default(settings, demo_contracts):
    settings.OPENLINEAGE_URL = ""
    settings.DC43_OPENLINEAGE_FILE = ""
    yield
    assert lineage.sender.wait_idle(15)


@pytest.mark.process  # a receiver on loopback
def test_every_event_of_a_run_reaches_an_http_receiver_valid_and_in_order(receiver):
    server = receiver()

    run = play(SimulatedRun(scenario="streaming-dq-rejects"), "rejects")
    assert lineage.sender.wait_idle(15)

    events = server.accepted
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"]
    assert {e["run"]["runId"] for e in events} == {str(run.id)}
    assert server.paths == {"/api/v1/lineage"}
    for event in events:
        assert problems(event) == []


@pytest.mark.process  # a receiver on loopback
def test_a_receiver_that_fails_twice_gets_each_event_once_after_retries(receiver):
    server = receiver(failures=2)

    play(SimulatedRun(), "valid", batches=1)
    assert lineage.sender.wait_idle(15)

    assert server.refused == 2
    assert [e["eventType"] for e in server.accepted] == ["START", "RUNNING", "COMPLETE"]


@pytest.mark.process  # a receiver on loopback
def test_an_unreachable_endpoint_is_logged_and_never_slows_or_breaks_the_run(settings, caplog):
    settings.OPENLINEAGE_URL = f"http://127.0.0.1:{RECEIVER_PORT + 1}"  # nothing listens there

    began = time.monotonic()
    run = play(SimulatedRun(), "valid", batches=3)
    took = time.monotonic() - began

    assert run.status == "ok"
    assert took < 5  # the writer never waits on the endpoint: each event fails after retries, later
    assert lineage.sender.wait_idle(60)
    assert "lineage: event" in caplog.text and "was not sent" in caplog.text


def test_the_file_transport_writes_json_lines_that_export_run_reproduces(settings, tmp_path):
    path = tmp_path / "lineage.jsonl"
    settings.DC43_OPENLINEAGE_FILE = str(path)

    run = play(SimulatedRun(scenario="streaming-dq-rejects"), "rejects")
    assert lineage.sender.wait_idle(15)

    lines = path.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"]
    assert all(problems(e) == [] for e in events)
    exported = tmp_path / "export.jsonl"
    call_command("export_run", str(run.id), "--format", "openlineage", "--out", str(exported))
    # The same events, less the tag the client adds as it sends (its own version).
    for event in events:
        assert event["run"]["facets"].pop("tags")["tags"][0]["key"] == "openlineage_client_version"
    assert [json.loads(line) for line in exported.read_text().splitlines()] == events


def test_lineage_is_off_when_neither_url_nor_file_is_set(monkeypatch):
    def no_client():
        raise AssertionError("lineage is off: no client may be made")

    monkeypatch.setattr(lineage, "make_client", no_client)
    sent = []
    monkeypatch.setattr(lineage.sender, "send", lambda run_id, seq: sent.append(seq))

    run = play(SimulatedRun(), "valid", batches=2)

    assert run.status == "ok" and not lineage.enabled()
    assert sent == []
