"""Several web processes over one Redis and one database: a run started through one is watched through another.

Two `daphne` processes (the Procfile's web.1 and web.2) share a channel layer on the Procfile's redis line (this test's own) and
the test database; the Procfile's runner worker hosts the run. A run that goes on until stopped is started with a
POST through web.1, and a websocket client on web.2's run socket receives every batch once, in order. Then web.1
is killed: the run goes on in the worker, web.2's viewer keeps receiving batches, and after a Stop through web.2
it receives `complete`. Batches are counted, never timed: the machine may be slow, the order may not change.
"""

import contextlib
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis
from django.test import Client
from processes import command_env
from procfile import Process, free_port, wait_for_port
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from registry.models import MicroBatch, Run

pytestmark = [pytest.mark.process, pytest.mark.spark, pytest.mark.django_db(transaction=True)]
BATCH_BADGE = re.compile(r'<li id="batch-main-(\d+)"')


@pytest.fixture
def redis_url(tmp_path):
    """The Procfile's redis line on a free loopback port: this test's own Redis, stopped by its PID."""
    port = free_port()
    server = Process("redis", dict(os.environ, DC43_REDIS_PORT=str(port)), tmp_path)
    try:
        wait_for_port(port, server)
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if client.ping():
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()


@pytest.fixture
def site(redis_url, tmp_path, settings, demo_contracts):
    """web.1, web.2 and a runner worker from the Procfile, on the test database and this test's Redis."""
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    ports = {"web.1": free_port(), "web.2": free_port()}
    env = {
        **command_env(),
        "DEBUG": "true",
        "SECRET_KEY": settings.SECRET_KEY,  # the session cookie the test signs must be valid in every process
        "REDIS_URL": redis_url,
        "DC43_WEB1_PORT": str(ports["web.1"]),
        "DC43_WEB2_PORT": str(ports["web.2"]),
    }
    started = {}
    try:
        for name in ("web.1", "web.2", "worker"):
            started[name] = Process(name, env, tmp_path)
        for name, port in ports.items():
            wait_for_port(port, started[name])
        yield {name: (started[name], f"127.0.0.1:{port}") for name, port in ports.items()} | {
            "worker": (started["worker"], None)
        }
    finally:
        for process in started.values():
            process.stop()


@pytest.fixture
def session_cookie(operator):
    client = Client()
    client.force_login(operator)
    return client.cookies["sessionid"].value


def post(address, cookie, path, **form):
    """POST a form to the web process at `address` as the signed-in person; the run it redirects to."""
    token = "x" * 32  # a CSRF secret of our own, in the cookie and the form alike
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=urllib.parse.urlencode({"csrfmiddlewaretoken": token, **form}).encode(),
        headers={"Cookie": f"sessionid={cookie}; csrftoken={token}"},
        method="POST",
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(request, timeout=30)
    assert redirect.value.code == 302, redirect.value.read()[:2000]
    run_id = redirect.value.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    return Run.objects.get(pk=run_id)


def test_a_run_started_through_one_web_process_is_watched_through_another_which_outlives_the_first(
    site, session_cookie
):
    (web1, address1), (web2, address2) = site["web.1"], site["web.2"]
    worker, _ = site["worker"]

    # Static files are served without runserver: WhiteNoise, inside the ASGI application.
    with urllib.request.urlopen(f"http://{address2}/static/css/site.css", timeout=10) as response:
        assert response.status == 200

    run = post(address1, session_cookie, "/pipelines/streaming-valid/start/", mode="until-stopped")
    assert run.queued_at is not None  # web.1 only queued it (the worker may have claimed it already)

    received = []  # (batch ids of each message), in the order the messages arrived
    closed = killed_after = stopped_after = None
    with connect(
        f"ws://{address2}/ws/runs/{run.id}/",
        origin=f"http://{address2}",
        additional_headers={"Cookie": f"sessionid={session_cookie}"},
        open_timeout=30,
    ) as socket:
        socket.send(json.dumps({"last_seq": 0}))
        text = ""
        try:
            while True:
                text = socket.recv(timeout=180)
                received.append([int(i) for i in BATCH_BADGE.findall(text)])
                count = sum(map(len, received))
                if killed_after is None and count >= 2:
                    web1.kill()  # SIGKILL, as a crash: nothing of the run lives there
                    killed_after = count
                elif killed_after is not None and stopped_after is None and count >= killed_after + 2:
                    post(address2, session_cookie, f"/runs/{run.id}/stop/")
                    stopped_after = count
        except ConnectionClosed as end:
            closed = end.rcvd
    assert not web1.alive()

    # Every batch once, in order, through web.2: those before web.1 died and those after.
    shown = [batch_id for ids in received for batch_id in ids]
    recorded = list(
        MicroBatch.objects.filter(run=run, stream="main").order_by("batch_id").values_list("batch_id", flat=True)
    )
    assert shown == recorded == list(range(len(recorded))), (shown, recorded)
    assert stopped_after is not None and stopped_after >= killed_after + 2, (killed_after, stopped_after)
    # The last message was `complete`, sent once the run's final state was committed; the socket closed cleanly.
    run.refresh_from_db()
    assert run.status == "ok", run.reason
    assert (run.owner_pid, run.stop_requested_by) == (worker.pid, "operator")  # hosted by the worker, stopped via web.2
    assert "status: ok" in text
    assert closed is not None and closed.code == 1000
    assert web2.alive() and worker.alive(), worker.tail()
