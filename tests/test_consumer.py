"""What a run page's websocket receives (registry.consumers.RunConsumer)."""

import json
import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from markup import elements
from simulate import SimulatedRun, play

from dc43site.routing import websocket_application
from registry.models import Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo_contracts")]


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(run_id, cookie=None, origin=b"http://testserver"):
    headers = [(b"host", b"testserver"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(websocket_application, f"/ws/runs/{run_id}/", headers=headers)


async def open_at(comm, seq):
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"last_seq": seq}))


def watch(run_id, seen, user, read, after=None):
    """What `read(comm)` gets on the socket of a page holding event `seen`; given `after`, the page
    first receives nothing (it is up to date), then `after()` runs in the database's thread."""
    cookie = session_cookie(user)

    async def scenario():
        comm = communicator(run_id, cookie)
        await open_at(comm, seen)
        if after is not None:
            assert await comm.receive_nothing(timeout=0.3)
            await database_sync_to_async(after)()
        result = await read(comm)
        await comm.disconnect()
        return result

    return async_to_sync(scenario)()


def first_update(run_id, seen, user, after=None):
    """The first message a page holding event `seen` receives when it opens, or, given `after`, once that has run."""
    return watch(run_id, seen, user, lambda comm: comm.receive_from(timeout=3 if after else 1), after)


def watch_until_closed(run_id, seen, user, after=None):
    """Everything a page holding event `seen` receives until the socket closes, and the close."""

    async def until_closed(comm):
        messages = []
        while True:
            output = await comm.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                return "".join(messages), output
            messages.append(output["text"])

    return watch(run_id, seen, user, until_closed, after)


def ids(html, prefix):
    return re.findall(rf'id="({prefix}[^"]*)"', html)


def seq_of(html):
    [seq] = elements(html, "input", id="live-seq", name="last_seq", hx_swap_oob="true")
    return int(seq.attrs["value"])


@pytest.fixture
def poll_rarely(settings):
    settings.DC43_LIVE_POLL_SECONDS = 60


def test_a_client_resuming_from_a_seq_receives_exactly_the_later_events_in_order(viewer, poll_rarely):
    run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=4)
    batch_seqs = {e.payload["batch_id"]: e.seq for e in run.events.filter(kind="batch")}
    seen = batch_seqs[1]  # the client holds batches 0 and 1

    cookie = session_cookie(viewer)

    async def scenario():
        comm = communicator(run.id, cookie)
        await open_at(comm, seen)
        html = await comm.receive_from()
        closed = await comm.receive_output()
        await comm.disconnect()
        return html, closed

    html, closed = async_to_sync(scenario)()
    assert ids(html, "batch-main-") == ["batch-main-2", "batch-main-3"]
    assert ids(html, "dq-main-") == ["dq-main-2", "dq-main-3"]
    later = list(run.events.filter(seq__gt=seen, kind__in=["milestone", "complete"]).values_list("seq", flat=True))
    assert ids(html, "event-") == [f"event-{s}" for s in later]
    assert seq_of(html) == run.last_seq
    assert 'hx-swap-oob="beforeend:#batches"' in html
    assert "status: warn" in html  # the header shows the final state
    assert closed == {"type": "websocket.close", "code": 1000}  # finished and sent: nothing more to watch


def test_a_client_that_has_everything_receives_nothing(viewer, poll_rarely):
    run = play(SimulatedRun(), "valid", batches=2)

    cookie = session_cookie(viewer)

    async def scenario():
        comm = communicator(run.id, cookie)
        await open_at(comm, run.last_seq)
        closed = await comm.receive_output()
        await comm.disconnect()
        return closed

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 1000}


def test_a_live_event_after_connect_is_delivered(viewer, poll_rarely):
    sim = SimulatedRun().start().gate()

    cookie = session_cookie(viewer)

    async def scenario():
        comm = communicator(sim.run.id, cookie)
        await open_at(comm, sim.run.last_seq)
        assert await comm.receive_nothing(timeout=0.3)
        await database_sync_to_async(sim.batch)(0)
        first = await comm.receive_from(timeout=3)
        await database_sync_to_async(sim.batch)(6)
        second = await comm.receive_from(timeout=3)
        await comm.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()
    assert ids(first, "batch-main-") == ["batch-main-0"]
    assert ids(second, "batch-main-") == ["batch-main-1"]
    assert "First rows arrived in batch 1" in second
    assert seq_of(second) > seq_of(first)


def test_events_appended_without_a_notification_arrive_by_polling(viewer, settings, monkeypatch):
    settings.DC43_LIVE_POLL_SECONDS = 0.2
    monkeypatch.setattr("registry.models.notify", lambda run_id, seq: None)  # as from another process
    monkeypatch.setattr("registry.consumers.wake_watchers", lambda run_id, seq: None)
    sim = SimulatedRun().start().gate()

    html = first_update(sim.run.id, sim.run.last_seq, viewer, after=lambda: sim.batch(6))
    assert ids(html, "batch-main-") == ["batch-main-0"]


def test_a_run_of_this_process_wakes_its_pages_at_its_commit_without_the_channel_layer(
    viewer, poll_rarely, monkeypatch
):
    # The in-memory layer's group_send, from a runner thread, does not wake the event loop until its next
    # timer, so notify wakes this process's pages directly: the group is not needed at all.
    from channels.layers import InMemoryChannelLayer

    async def lost(self, group, message):
        return None

    monkeypatch.setattr(InMemoryChannelLayer, "group_send", lost)
    sim = SimulatedRun().start().gate()

    html = first_update(sim.run.id, sim.run.last_seq, viewer, after=lambda: sim.batch(6))
    assert ids(html, "batch-main-") == ["batch-main-0"]


def test_pages_woken_by_the_same_batch_share_one_read_and_render(viewer, poll_rarely, monkeypatch):
    from registry import live

    renders = []

    def counted(run_id, seen):
        update = live_updates_since(run_id, seen)
        if update and update.html:
            renders.append(seen)
        return update

    live_updates_since = live.updates_since
    monkeypatch.setattr("registry.live.updates_since", counted)
    sim = SimulatedRun().start().gate()

    cookie = session_cookie(viewer)

    async def scenario():
        comms = [communicator(sim.run.id, cookie) for _ in range(5)]
        for comm in comms:
            await open_at(comm, sim.run.last_seq)
        for comm in comms:
            assert await comm.receive_nothing(timeout=0.2)
        await database_sync_to_async(sim.batch)(6)
        received = [await comm.receive_from(timeout=3) for comm in comms]
        for comm in comms:
            await comm.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert [ids(html, "batch-main-") for html in received] == [["batch-main-0"]] * 5
    assert len(renders) == 1


def test_a_page_woken_for_an_event_does_not_settle_for_a_shared_read_that_began_before_its_commit(monkeypatch):
    import asyncio
    import threading

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

    async def scenario():
        polling, woken = page(), page()
        first = asyncio.create_task(polling.flush())  # a timer's read
        await asyncio.sleep(0.05)
        second = asyncio.create_task(woken.flush(until=1))  # joins it, but was woken for event 1
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, second)
        return polling.sent, woken.sent

    assert async_to_sync(scenario)() == ([], ["<li>event 1</li>"])
    assert reads == [0, 0]


def test_completion_is_delivered_and_the_socket_closes_normally(viewer, poll_rarely):
    sim = SimulatedRun().start().gate()
    sim.batch(6)

    html, closed = watch_until_closed(sim.run.id, sim.run.last_seq, viewer, after=sim.finish)
    assert "Run ended ok" in html
    assert "status: ok" in html
    assert "live</span>" not in html
    assert closed["code"] == 1000


def test_a_page_watching_a_run_whose_process_died_shows_it_interrupted(viewer, settings, dead_pid):
    settings.DC43_LIVE_POLL_SECONDS = 0.2
    sim = SimulatedRun().start().gate()
    sim.batch(6)
    Run.objects.filter(pk=sim.run.pk).update(owner_pid=dead_pid)  # its run_scenario was killed

    html, closed = watch_until_closed(sim.run.id, sim.run.last_seq, viewer)
    sim.run.refresh_from_db()
    assert sim.run.status == "interrupted"
    assert f"pid {dead_pid}" in sim.run.reason
    assert "status: interrupted" in html
    assert "live</span>" not in html
    assert closed["code"] == 1000


def test_a_page_watching_a_run_whose_heartbeat_stopped_shows_it_interrupted(viewer, settings, live_pid):
    settings.DC43_LIVE_POLL_SECONDS = 0.2
    sim = SimulatedRun().start().gate()
    stale = timezone.now() - timedelta(seconds=settings.DC43_HEARTBEAT_TIMEOUT + 5)
    Run.objects.filter(pk=sim.run.pk).update(owner_pid=live_pid, owner_host="elsewhere", heartbeat_at=stale)

    html, closed = watch_until_closed(sim.run.id, sim.run.last_seq, viewer)
    assert "status: interrupted" in html and "no heartbeat" in html
    assert closed["code"] == 1000


def test_a_page_leaves_a_run_of_another_live_process_running(viewer, settings, live_pid):
    settings.DC43_LIVE_POLL_SECONDS = 0.1
    sim = SimulatedRun().start().gate()
    Run.objects.filter(pk=sim.run.pk).update(owner_pid=live_pid)

    html = first_update(sim.run.id, sim.run.last_seq, viewer, after=lambda: sim.batch(6))
    assert ids(html, "batch-main-") == ["batch-main-0"]
    sim.run.refresh_from_db()
    assert sim.run.status == "running"


def test_a_replayed_batch_replaces_its_badge_instead_of_appending(viewer, poll_rarely):
    sim = SimulatedRun().start().gate()
    batch = sim.batch(6)
    seen = sim.run.last_seq
    batch.row_count = 7
    batch.save()
    sim.run.log("batch", {"stream": "main", "batch_id": 0, "status": "ok", "rows": 7, "micro_batch": batch.pk})

    html = first_update(sim.run.id, seen, viewer)
    assert 'hx-swap-oob="beforeend:#batches"' not in html
    assert elements(html, "ol", id="batches", class_="batches", aria_label="Micro-batches", hx_swap_oob="true")
    assert ids(html, "batch-main-") == ["batch-main-0"]
    assert "7 rows" in html


def refusal(run_id, user=None, origin=b"http://testserver"):
    cookie = session_cookie(user) if user else None

    async def scenario():
        comm = communicator(run_id, cookie, origin)
        connected, code = await comm.connect()
        if connected:
            code = (await comm.receive_output())["code"]
        await comm.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def test_anonymous_clients_are_refused_with_4401():
    assert refusal(SimulatedRun().run.id) == (True, 4401)


def test_a_deactivated_account_is_refused_with_4403_even_if_its_session_lets_it_in(viewer, settings):
    # With the default backend a deactivated account's session reads as anonymous (4401);
    # a backend that lets it through still meets the site's rule.
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.AllowAllUsersModelBackend"]
    run_id = SimulatedRun().run.id
    cookie = session_cookie(viewer)
    viewer.is_active = False
    viewer.save()

    async def scenario():
        comm = communicator(run_id, cookie)
        connected, _ = await comm.connect()
        closed = await comm.receive_output()
        await comm.disconnect()
        return connected, closed["code"]

    assert async_to_sync(scenario)() == (True, 4403)


def test_an_unknown_run_is_refused_with_4404(viewer):
    assert refusal("00000000-0000-0000-0000-000000000000", viewer) == (True, 4404)


def test_a_foreign_origin_is_refused_before_the_socket_opens(viewer):
    connected, _ = refusal(SimulatedRun().run.id, viewer, origin=b"http://evil.example")
    assert not connected


def test_a_first_message_without_a_seq_is_refused_with_4400(viewer, poll_rarely):
    run = SimulatedRun().run

    cookie = session_cookie(viewer)

    async def scenario():
        comm = communicator(run.id, cookie)
        await comm.connect()
        await comm.send_to(text_data="hello")
        closed = await comm.receive_output()
        await comm.disconnect()
        return closed

    assert async_to_sync(scenario)()["code"] == 4400


def test_a_poll_that_finds_nothing_new_costs_one_query(django_assert_num_queries):
    from registry.live import updates_since

    sim = SimulatedRun().start()
    with django_assert_num_queries(1):
        update = updates_since(sim.run.id, sim.run.last_seq)
    assert (update.html, update.seq, update.finished) == ("", sim.run.last_seq, False)


def test_a_client_further_behind_than_the_page_window_gets_the_lists_whole(viewer, poll_rarely):
    from registry.presenters import BATCH_WINDOW

    sim = SimulatedRun().start().gate()
    seen = sim.run.last_seq
    for _ in range(BATCH_WINDOW + 5):
        sim.batch(6)

    html = first_update(sim.run.id, seen, viewer)
    assert 'hx-swap-oob="beforeend:#batches"' not in html
    assert elements(html, "ol", id="batches", class_="batches", aria_label="Micro-batches", hx_swap_oob="true")
    badges = ids(html, "batch-main-")
    assert badges[-1] == f"batch-main-{BATCH_WINDOW + 4}" and "batch-main-0" not in badges
    assert ids(html, "dq-main-") == [b.replace("batch", "dq") for b in badges]
    assert seq_of(html) == sim.run.last_seq


def test_a_replay_of_a_batch_older_than_the_window_replaces_the_lists(viewer, poll_rarely):
    from registry.presenters import BATCH_WINDOW

    sim = SimulatedRun().start().gate()
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

    html = first_update(sim.run.id, seen, viewer)
    assert 'hx-swap-oob="beforeend:#batches"' not in html  # appending would show batch 0 twice on a page that has it
    assert elements(html, "ol", id="batches", class_="batches", aria_label="Micro-batches", hx_swap_oob="true")
