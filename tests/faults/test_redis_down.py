"""Redis hangs, then dies, in the middle of a run: batches keep their pace, and an open page keeps updating by
reading the log.

A hung Redis is the hard case: a dead one on this host refuses connections at once, while a hung one leaves every
call waiting for its socket timeout (15 s), which a wake-up sent from the batch's commit hook would add to the batch."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import redis
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client

from dc43site.routing import websocket_application
from pipelines.runner import start_run, wait_for
from registry.models import Run, RunEvent

pytestmark = [
    pytest.mark.spark,
    pytest.mark.process,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
]

db = database_sync_to_async
SECONDS = 12


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_server():
    """A redis-server of this test's own, on a free loopback port; yields (port, process)."""
    port = free_port()
    process = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def layer_on(redis_server, settings, tmp_path, demo_contracts):
    port, process = redis_server
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    settings.DC43_LIVE_POLL_SECONDS = 0.5  # what a page falls back on while Redis is gone
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "dc43site.channel_layers.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{port}/0", "socket_timeout": 15}]},
        }
    }
    channel_layers.backends.clear()
    yield process
    channel_layers.backends.clear()


@pytest.fixture
def cookie(viewer):
    client = Client()
    client.force_login(viewer)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def batch_times(run):
    """When each batch was recorded (its event's commit), in batch order."""
    events = RunEvent.objects.filter(run=run, kind="batch").order_by("seq")
    return [(e.payload["batch_id"], e.created_at.timestamp()) for e in events]


async def page_updates(comm, received):
    """Collect (time, html) of every update until the socket closes; return the close."""
    while True:
        output = await comm.receive_output(timeout=30)
        if output["type"] == "websocket.close":
            return output
        received.append((time.time(), output["text"]))


async def test_batches_keep_their_pace_and_the_page_keeps_updating_when_redis_dies(spark, layer_on, cookie):
    redis_process = layer_on
    run = await db(start_run)("streaming-valid", seconds=SECONDS, via="python")
    comm = WebsocketCommunicator(
        websocket_application,
        f"/ws/runs/{run.id}/",
        headers=[(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"cookie", cookie)],
    )
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"last_seq": 0}))
    received = []
    page = asyncio.create_task(page_updates(comm, received))

    for _ in range(300):  # three batches recorded, with Redis up
        if len(await db(batch_times)(run)) >= 3:
            break
        await asyncio.sleep(0.1)
    os.kill(redis_process.pid, signal.SIGSTOP)  # hung: it accepts nothing and answers nothing
    stalled = time.time()
    await asyncio.sleep(4)
    redis_process.kill()  # then gone
    redis_process.wait()

    assert await asyncio.to_thread(wait_for, run, 120)
    closed = await asyncio.wait_for(page, 30)
    await comm.disconnect()

    run = await db(Run.objects.get)(pk=run.pk)
    times = await db(batch_times)(run)
    after = [t for _, t in times if t > stalled]
    assert run.status == "ok", run.reason
    assert [batch_id for batch_id, _ in times] == list(range(len(times)))
    assert len(times) >= SECONDS - 4 and len(after) >= 4, times
    gaps = [later - earlier for earlier, later in zip([stalled, *after], after, strict=False)]
    assert max(gaps) < 3, gaps  # a batch a second, as before: no wake-up waits on the hung or dead Redis

    # The page saw the batches recorded since (by reading the log), then the end.
    late = "".join(html for at, html in received if at > stalled)
    shown = {int(i) for i in re.findall(r'id="batch-main-(\d+)"', late)}
    assert {batch_id for batch_id, t in times if t > stalled} <= shown
    assert "status: ok" in late
    assert closed["code"] == 1000
