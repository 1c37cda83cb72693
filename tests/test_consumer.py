"""What a run page's websocket receives (registry.consumers.RunConsumer)."""

import asyncio
import json
import re
import threading
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from markup import elements
from simulate import SimulatedRun, play

from dc43site.routing import websocket_application
from registry.models import Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]

db = database_sync_to_async  # the test's own reads and writes, off the event loop


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.fixture
def cookie(viewer):
    return session_cookie(viewer)


def communicator(run_id, cookie=None, origin=b"http://testserver"):
    headers = [(b"host", b"testserver"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(websocket_application, f"/ws/runs/{run_id}/", headers=headers)


async def open_at(run_id, cookie, seq):
    comm = communicator(run_id, cookie)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"last_seq": seq}))
    return comm


async def first_update(run_id, seen, cookie, after=None):
    """The first message a page holding event `seen` receives when it opens; given `after`, the page first
    receives nothing (it is up to date), then `after()` runs in the database's thread."""
    comm = await open_at(run_id, cookie, seen)
    if after is not None:
        assert await comm.receive_nothing(timeout=0.3)
        await db(after)()
    html = await comm.receive_from(timeout=3 if after else 1)
    await comm.disconnect()
    return html


async def until_closed(comm, timeout=3):
    """Everything a page receives until its socket closes, and the close."""
    messages = []
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            await comm.disconnect()
            return "".join(messages), output
        messages.append(output["text"])


def ids(html, prefix):
    return re.findall(rf'id="({prefix}[^"]*)"', html)


def seq_of(html):
    [seq] = elements(html, "input", id="live-seq", name="last_seq", hx_swap_oob="true")
    return int(seq.attrs["value"])


@pytest.fixture
def poll_rarely(settings):
    settings.DC43_LIVE_POLL_SECONDS = 60


def started():
    return SimulatedRun().start().gate()


@pytest.mark.asyncio
async def test_a_client_resuming_from_a_seq_receives_exactly_the_later_events_in_order(cookie, poll_rarely):
    run = await db(lambda: play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=4))()
    events = await db(lambda: list(run.events.values_list("seq", "kind", "payload")))()
    seen = next(seq for seq, kind, payload in events if kind == "batch" and payload["batch_id"] == 1)

    comm = await open_at(run.id, cookie, seen)  # the client holds batches 0 and 1
    html, closed = await until_closed(comm)

    assert ids(html, "batch-main-") == ["batch-main-2", "batch-main-3"]
    assert ids(html, "dq-main-") == ["dq-main-2", "dq-main-3"]
    later = [seq for seq, kind, _ in events if seq > seen and kind in ("milestone", "complete")]
    assert ids(html, "event-") == [f"event-{s}" for s in later]
    assert seq_of(html) == run.last_seq
    assert 'hx-swap-oob="beforeend:#batches"' in html
    assert "status: warn" in html  # the header shows the final state
    assert closed == {"type": "websocket.close", "code": 1000}  # finished and sent: nothing more to watch


@pytest.mark.asyncio
async def test_a_client_that_has_everything_receives_nothing(cookie, poll_rarely):
    run = await db(lambda: play(SimulatedRun(), "valid", batches=2))()
    comm = await open_at(run.id, cookie, run.last_seq)
    assert await until_closed(comm) == ("", {"type": "websocket.close", "code": 1000})


@pytest.mark.asyncio
async def test_a_live_event_after_connect_is_delivered(cookie, poll_rarely):
    sim = await db(started)()
    comm = await open_at(sim.run.id, cookie, sim.run.last_seq)
    assert await comm.receive_nothing(timeout=0.3)
    await db(sim.batch)(0)
    first = await comm.receive_from(timeout=3)
    await db(sim.batch)(6)
    second = await comm.receive_from(timeout=3)
    await comm.disconnect()

    assert ids(first, "batch-main-") == ["batch-main-0"]
    assert ids(second, "batch-main-") == ["batch-main-1"]
    assert "First rows arrived in batch 1" in second
    assert seq_of(second) > seq_of(first)


@pytest.mark.asyncio
async def test_events_appended_without_a_notification_arrive_by_polling(cookie, settings, monkeypatch):
    settings.DC43_LIVE_POLL_SECONDS = 0.2
    monkeypatch.setattr("registry.models.notify", lambda run_id, seq: None)  # as from another process
    sim = await db(started)()

    html = await first_update(sim.run.id, sim.run.last_seq, cookie, after=lambda: sim.batch(6))
    assert ids(html, "batch-main-") == ["batch-main-0"]


@pytest.mark.asyncio
async def test_a_run_of_this_process_wakes_its_pages_at_its_commit_without_the_channel_layer(
    cookie, poll_rarely, monkeypatch
):
    # The in-memory layer's group_send, from a runner thread, does not wake the event loop until its next
    # timer, so notify wakes this process's pages directly: the group is not needed at all.
    from channels.layers import InMemoryChannelLayer

    async def lost(self, group, message):
        return None

    monkeypatch.setattr(InMemoryChannelLayer, "group_send", lost)
    sim = await db(started)()

    html = await first_update(sim.run.id, sim.run.last_seq, cookie, after=lambda: sim.batch(6))
    assert ids(html, "batch-main-") == ["batch-main-0"]


@pytest.mark.asyncio
async def test_pages_woken_by_the_same_batch_share_one_read_and_render(cookie, poll_rarely, monkeypatch):
    from registry import live

    renders = []
    live_updates_since = live.updates_since

    def counted(run_id, seen):
        update = live_updates_since(run_id, seen)
        if update and update.html:
            renders.append(seen)
        return update

    monkeypatch.setattr("registry.live.updates_since", counted)
    sim = await db(started)()

    comms = [await open_at(sim.run.id, cookie, sim.run.last_seq) for _ in range(5)]
    for comm in comms:
        assert await comm.receive_nothing(timeout=0.2)
    await db(sim.batch)(6)
    received = [await comm.receive_from(timeout=3) for comm in comms]
    for comm in comms:
        await comm.disconnect()

    assert [ids(html, "batch-main-") for html in received] == [["batch-main-0"]] * 5
    assert len(renders) == 1


@pytest.mark.asyncio
async def test_a_page_woken_for_an_event_does_not_settle_for_a_shared_read_that_began_before_its_commit(
    monkeypatch,
):
    from registry.consumers import RunConsumer
    from registry.live import Update

    reads, release = [], threading.Event()

    def updates_since(run_id, seen):
        reads.append(seen)
        if len(reads) == 1:
            release.wait(5)
            return Update("", seen, False)  # this read began before event 1 was committed
        return Update("<li>event 1</li>", seen + 1, False)

    monkeypatch.setattr("registry.live.updates_since", updates_since)

    def page():
        consumer = RunConsumer()
        consumer.run_id, consumer.seen, consumer.done, consumer.sent = "run", 0, False, []
        consumer.lock = asyncio.Lock()

        async def send(text_data):
            consumer.sent.append(text_data)

        consumer.send = send
        return consumer

    polling, woken = page(), page()
    first = asyncio.create_task(polling.flush())  # a timer's read
    await asyncio.sleep(0.05)
    second = asyncio.create_task(woken.flush(until=1))  # joins it, but was woken for event 1
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(first, second)

    assert (polling.sent, woken.sent) == ([], ["<li>event 1</li>"])
    assert reads == [0, 0]


@pytest.mark.asyncio
async def test_completion_is_delivered_and_the_socket_closes_normally(cookie, poll_rarely):
    sim = await db(started)()
    await db(sim.batch)(6)
    comm = await open_at(sim.run.id, cookie, sim.run.last_seq)
    assert await comm.receive_nothing(timeout=0.3)
    await db(sim.finish)()

    html, closed = await until_closed(comm)
    assert "Run ended ok" in html
    assert "status: ok" in html
    assert "live</span>" not in html
    assert closed["code"] == 1000


def dies(sim, pid):
    """The run's process ends with the run still `running`: its run_scenario was killed."""
    Run.objects.filter(pk=sim.run.pk).update(owner_pid=pid)


@pytest.mark.asyncio
async def test_a_page_never_marks_a_run_whose_process_died_by_itself(cookie, settings, dead_pid):
    settings.DC43_LIVE_POLL_SECONDS = 0.1
    sim = await db(started)()
    await db(dies)(sim, dead_pid)

    comm = await open_at(sim.run.id, cookie, sim.run.last_seq)
    assert await comm.receive_nothing(timeout=0.6)  # several polls
    await comm.disconnect()
    assert await db(lambda: Run.objects.get(pk=sim.run.pk).status)() == "running"


@pytest.mark.asyncio
async def test_an_open_page_shows_the_run_the_sweep_command_marks_interrupted(cookie, poll_rarely, dead_pid):
    sim = await db(started)()
    await db(sim.batch)(6)
    await db(dies)(sim, dead_pid)
    comm = await open_at(sim.run.id, cookie, sim.run.last_seq)
    assert await comm.receive_nothing(timeout=0.3)

    await db(call_command)("sweep_runs")  # the `complete` event it appends wakes the page: no poll needed

    html, closed = await until_closed(comm)
    run = await db(Run.objects.get)(pk=sim.run.pk)
    assert run.status == "interrupted"
    assert f"pid {dead_pid}" in run.reason
    assert "status: interrupted" in html
    assert "live</span>" not in html
    assert closed["code"] == 1000


@pytest.mark.asyncio
async def test_an_open_page_shows_the_run_the_periodic_sweep_marks_interrupted(cookie, settings, live_pid):
    from dc43site.startup import Sweeper

    settings.DC43_LIVE_POLL_SECONDS = 60
    sim = await db(started)()
    stale = timezone.now() - timedelta(seconds=settings.DC43_HEARTBEAT_TIMEOUT + 5)
    await db(Run.objects.filter(pk=sim.run.pk).update)(owner_pid=live_pid, owner_host="elsewhere", heartbeat_at=stale)
    comm = await open_at(sim.run.id, cookie, sim.run.last_seq)
    assert await comm.receive_nothing(timeout=0.3)

    sweeper = Sweeper(0.2)  # the serving process's timer, in a thread of its own
    sweeper.start()
    try:
        html, closed = await until_closed(comm)
    finally:
        await asyncio.to_thread(sweeper.stop)
    assert "status: interrupted" in html and "no heartbeat" in html
    assert closed["code"] == 1000


@pytest.mark.asyncio
async def test_a_page_leaves_a_run_of_another_live_process_running(cookie, settings, live_pid):
    settings.DC43_LIVE_POLL_SECONDS = 0.1
    sim = await db(started)()
    await db(dies)(sim, live_pid)  # not dead: another process owns it

    html = await first_update(sim.run.id, sim.run.last_seq, cookie, after=lambda: sim.batch(6))
    assert ids(html, "batch-main-") == ["batch-main-0"]
    assert await db(lambda: Run.objects.get(pk=sim.run.pk).status)() == "running"


@pytest.mark.asyncio
async def test_a_replayed_batch_replaces_its_badge_instead_of_appending(cookie, poll_rarely):
    def replayed():
        sim = started()
        batch = sim.batch(6)
        seen = sim.run.last_seq
        batch.row_count = 7
        batch.save()
        sim.run.log("batch", {"stream": "main", "batch_id": 0, "status": "ok", "rows": 7, "micro_batch": batch.pk})
        return sim, seen

    sim, seen = await db(replayed)()

    html = await first_update(sim.run.id, seen, cookie)
    assert 'hx-swap-oob="beforeend:#batches"' not in html
    assert elements(html, "ol", id="batches", class_="batches", aria_label="Micro-batches", hx_swap_oob="true")
    assert ids(html, "batch-main-") == ["batch-main-0"]
    assert "7 rows" in html


async def refusal(run_id, cookie=None, origin=b"http://testserver"):
    comm = communicator(run_id, cookie, origin)
    connected, code = await comm.connect()
    if connected:
        code = (await comm.receive_output())["code"]
    await comm.disconnect()
    return connected, code


def a_run_id():
    return SimulatedRun().run.id


@pytest.mark.asyncio
async def test_anonymous_clients_are_refused_with_4401():
    assert await refusal(await db(a_run_id)()) == (True, 4401)


@pytest.mark.asyncio
async def test_a_deactivated_account_is_refused_with_4403_even_if_its_session_lets_it_in(viewer, settings):
    # With the default backend a deactivated account's session reads as anonymous (4401);
    # a backend that lets it through still meets the site's rule.
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.AllowAllUsersModelBackend"]
    run_id = await db(a_run_id)()
    cookie = await db(session_cookie)(viewer)
    viewer.is_active = False
    await db(viewer.save)()

    assert await refusal(run_id, cookie) == (True, 4403)


@pytest.mark.asyncio
async def test_an_unknown_run_is_refused_with_4404(cookie):
    assert await refusal("00000000-0000-0000-0000-000000000000", cookie) == (True, 4404)


@pytest.mark.asyncio
async def test_a_foreign_origin_is_refused_before_the_socket_opens(cookie):
    connected, _ = await refusal(await db(a_run_id)(), cookie, origin=b"http://evil.example")
    assert not connected


@pytest.mark.asyncio
async def test_a_first_message_without_a_seq_is_refused_with_4400(cookie, poll_rarely):
    comm = communicator(await db(a_run_id)(), cookie)
    await comm.connect()
    await comm.send_to(text_data="hello")
    closed = await comm.receive_output()
    await comm.disconnect()
    assert closed["code"] == 4400


def test_a_poll_that_finds_nothing_new_costs_one_query(django_assert_num_queries):
    from registry.live import updates_since

    sim = SimulatedRun().start()
    with django_assert_num_queries(1):
        update = updates_since(sim.run.id, sim.run.last_seq)
    assert (update.html, update.seq, update.finished) == ("", sim.run.last_seq, False)


@pytest.mark.asyncio
async def test_a_client_further_behind_than_the_page_window_gets_the_lists_whole(cookie, poll_rarely):
    from registry.presenters import BATCH_WINDOW

    def long_run():
        sim = started()
        seen = sim.run.last_seq
        for _ in range(BATCH_WINDOW + 5):
            sim.batch(6)
        return sim, seen

    sim, seen = await db(long_run)()

    html = await first_update(sim.run.id, seen, cookie)
    assert 'hx-swap-oob="beforeend:#batches"' not in html
    assert elements(html, "ol", id="batches", class_="batches", aria_label="Micro-batches", hx_swap_oob="true")
    badges = ids(html, "batch-main-")
    assert badges[-1] == f"batch-main-{BATCH_WINDOW + 4}" and "batch-main-0" not in badges
    assert ids(html, "dq-main-") == [b.replace("batch", "dq") for b in badges]
    assert seq_of(html) == sim.run.last_seq


@pytest.mark.asyncio
async def test_a_replay_of_a_batch_older_than_the_window_replaces_the_lists(cookie, poll_rarely):
    from registry.presenters import BATCH_WINDOW

    def replay_of_an_old_batch():
        sim = started()
        first = sim.batch(6)
        for _ in range(BATCH_WINDOW + 5):
            sim.batch(6)
        seen = sim.run.last_seq
        sim.run.record_batch(
            {
                "batch_id": first.batch_id,
                "status": "ok",
                "row_count": 7,
                "started_at": first.started_at,
                "finished_at": first.finished_at,
            }
        )
        return sim, seen

    sim, seen = await db(replay_of_an_old_batch)()

    html = await first_update(sim.run.id, seen, cookie)
    assert 'hx-swap-oob="beforeend:#batches"' not in html  # appending would show batch 0 twice on a page that has it
    assert elements(html, "ol", id="batches", class_="batches", aria_label="Micro-batches", hx_swap_oob="true")
