"""A run page's socket accepts one message, {"last_seq": N} with N a plain non-negative integer; nothing a client
sends can make the consumer crash, hang, or leave its poller task running."""

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from django.test import Client
from simulate import SimulatedRun

from dc43site.routing import websocket_application
from registry.consumers import POLLER_NAME

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.usefixtures("demo_contracts")]

HOSTILE = [
    '{"last_seq": 1e400}',
    '{"last_seq": Infinity}',
    '{"last_seq": -Infinity}',
    '{"last_seq": NaN}',
    '{"last_seq": -1}',
    '{"last_seq": true}',
    '{"last_seq": 1.0}',
    '{"last_seq": 2.5}',
    '{"last_seq": "3"}',
    '{"last_seq": null}',
    '{"last_seq": [1]}',
    '{"last_seq": 99999999999999999999999}',
    '{"last_seq": 1' + "0" * 5000 + "}",
    '{"seq": 1}',
    "[1]",
    "null",
    "hello",
    "[" * 100_000 + "]" * 100_000,
    " ",
]


@pytest.fixture
def cookie(viewer):
    client = Client()
    client.force_login(viewer)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.fixture
def run_id(settings):
    settings.DC43_LIVE_POLL_SECONDS = 60
    return SimulatedRun().start().run.id


def communicator(run_id, cookie):
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"cookie", cookie)]
    return WebsocketCommunicator(websocket_application, f"/ws/runs/{run_id}/", headers=headers)


def pollers():
    return [task for task in asyncio.all_tasks() if task.get_name() == POLLER_NAME and not task.done()]


async def until(condition, timeout=3):
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def answer_to(run_id, cookie, text=None, data=None):
    comm = communicator(run_id, cookie)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=text, bytes_data=data)
    output = await comm.receive_output(timeout=3)
    await comm.disconnect()
    return output


@pytest.mark.parametrize("text", HOSTILE, ids=lambda text: text[:40])
async def test_anything_but_a_plain_non_negative_integer_closes_with_4400(run_id, cookie, text):
    assert await answer_to(run_id, cookie, text) == {"type": "websocket.close", "code": 4400}


async def test_a_binary_frame_closes_with_4400(run_id, cookie):
    output = await answer_to(run_id, cookie, data=json.dumps({"last_seq": 0}).encode())
    assert output == {"type": "websocket.close", "code": 4400}


async def test_a_plain_integer_is_accepted(run_id, cookie):
    output = await answer_to(run_id, cookie, json.dumps({"last_seq": 0}))
    assert output["type"] == "websocket.send" and 'id="live-seq"' in output["text"]


async def test_twenty_hostile_clients_leave_no_poller_behind(run_id, cookie):
    comms = [communicator(run_id, cookie) for _ in range(20)]
    for comm in comms:
        assert (await comm.connect())[0]
    assert await until(lambda: len(pollers()) == 20)  # each connection polls while it is open

    for comm, text in zip(comms, HOSTILE * 2, strict=False):
        await comm.send_to(text_data=text)
    closes = [(await comm.receive_output(timeout=3))["code"] for comm in comms]
    for comm in comms:
        await comm.disconnect()

    assert closes == [4400] * 20
    assert pollers() == []


async def test_a_database_error_in_the_poll_closes_with_1011_and_is_logged(
    run_id, cookie, settings, monkeypatch, caplog
):
    from registry import live

    settings.DC43_LIVE_POLL_SECONDS = 0.05
    reads = []
    updates_since = live.updates_since

    def blip(run_id, seen):
        reads.append(seen)
        if len(reads) > 2:
            raise OperationalError("server closed the connection unexpectedly")
        return updates_since(run_id, seen)

    monkeypatch.setattr("registry.live.updates_since", blip)
    comm = communicator(run_id, cookie)
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"last_seq": 0}))
    first = await comm.receive_output(timeout=3)
    closed = await comm.receive_output(timeout=3)  # the htmx extension reconnects after 1011 and resumes
    await comm.disconnect()

    assert first["type"] == "websocket.send"
    assert closed == {"type": "websocket.close", "code": 1011}
    assert "could not read the event log" in caplog.text and "server closed the connection" in caplog.text
    assert pollers() == []


async def test_only_the_first_message_counts(run_id, cookie):
    comm = communicator(run_id, cookie)
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"last_seq": 0}))
    assert (await comm.receive_output(timeout=3))["type"] == "websocket.send"
    await comm.send_to(text_data="not json at all")  # later messages are not read: no 4400
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()
    assert pollers() == []
