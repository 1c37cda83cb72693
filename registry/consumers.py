import asyncio
import contextlib
import json
import threading

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import InMemoryChannelLayer
from django.conf import settings

from registry import live
from registry.access import can_view_runs
from registry.models import Run, run_group

# Close codes the page can tell apart; the htmx ws extension only reconnects after 1006/1011-1013.
NOT_LOGGED_IN, FORBIDDEN, UNKNOWN_RUN, BAD_MESSAGE = 4401, 4403, 4404, 4400
FINISHED = 1000


def poll_seconds(layer):
    """How often to read the event log: often when notifications cannot cross processes."""
    default = 1.0 if in_memory(layer) else 10.0
    return getattr(settings, "DC43_LIVE_POLL_SECONDS", default)


def in_memory(layer):
    return layer is None or isinstance(layer, InMemoryChannelLayer)


class RunConsumer(AsyncWebsocketConsumer):
    """Sends a run page every event of the run's log it has not seen, once, in order.

    The client opens with {"last_seq": N}. Wake-ups come from the channel group, from runs of
    this process directly (see `wake_watchers`), and from reading the log on a timer, which
    also covers runs in other processes.
    """

    async def connect(self):
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.seen = None
        self.done = False
        self.lock = asyncio.Lock()
        self.poller = None
        self.woken = asyncio.Event()
        self.wanted = 0
        # Accept before refusing, so the browser sees the 4xxx code and does not retry.
        await self.accept()
        user = self.scope.get("user")
        if not (user and user.is_authenticated):
            return await self.close(NOT_LOGGED_IN)
        if not await database_sync_to_async(can_view_runs)(user):
            return await self.close(FORBIDDEN)
        if not await database_sync_to_async(Run.objects.filter(pk=self.run_id).exists)():
            return await self.close(UNKNOWN_RUN)
        await self.channel_layer.group_add(run_group(self.run_id), self.channel_name)
        if in_memory(self.channel_layer):
            watch_locally(self)
        self.poller = asyncio.create_task(self.poll(poll_seconds(self.channel_layer)))

    async def disconnect(self, code):
        self.done = True
        if self.poller:
            self.poller.cancel()
            unwatch_locally(self)
            await self.channel_layer.group_discard(run_group(self.run_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.seen is not None or self.poller is None:
            return  # only the first message of a connection says where the client is
        try:
            self.seen = max(int(json.loads(text_data or "")["last_seq"]), 0)
        except (ValueError, TypeError, KeyError):
            return await self.close(BAD_MESSAGE)
        await self.flush()

    async def run_event(self, message):
        await self.flush(until=message.get("seq", 0))

    def wake(self, seq):
        """Called in this consumer's event loop (see `wake_watchers`): flush up to `seq` now."""
        self.wanted = max(self.wanted, seq)
        self.woken.set()

    async def poll(self, every):
        while not self.done:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.woken.wait(), every)
            self.woken.clear()
            await self.flush(until=self.wanted)

    async def flush(self, until=0):
        """Send what the client has not seen, up to at least event `until` when it is known to be committed."""
        async with self.lock:
            if self.seen is None or self.done:
                return
            update = await shared_updates_since(self.run_id, self.seen)
            if update is not None and update.seq < until and not update.finished:
                # The shared read began before that event's commit: read again, after it.
                update = await shared_updates_since(self.run_id, self.seen, fresh=True)
            if update is None:
                self.done = True
                return await self.close(UNKNOWN_RUN)
            if update.html:
                await self.send(text_data=update.html)
            self.seen = update.seq
            if update.finished:
                self.done = True
                await self.close(FINISHED)


# Reads of the log in flight, by (loop, run, seq): a batch wakes every page watching the run at
# once, and they hold the same seq, so one read and one render on the database thread answer
# them all, instead of one each in a queue (200 pages: seconds behind).
_reads = {}


async def shared_updates_since(run_id, seen, fresh=False):
    key = (asyncio.get_running_loop(), str(run_id), seen)
    read = _reads.get(key)
    if read is None or read.done() or fresh:
        read = asyncio.ensure_future(database_sync_to_async(live.updates_since)(run_id, seen))
        _reads[key] = read
        read.add_done_callback(lambda done: _reads.pop(key, None) if _reads.get(key) is done else None)
    # A client that leaves mid-read must not cancel the read the others wait on.
    return await asyncio.shield(read)


# Pages watching runs of this process, when the channel layer is in memory. Its group_send,
# called from a runner thread, queues the wake-up without waking the event loop (asyncio is
# not thread-safe there): the page would learn of a batch only at the loop's next timer, up
# to a second later. So `registry.models.notify` wakes them here, thread-safely, instead.
_local = {}
_local_lock = threading.Lock()


def watch_locally(consumer):
    consumer.loop = asyncio.get_running_loop()
    with _local_lock:
        _local.setdefault(str(consumer.run_id), set()).add(consumer)


def unwatch_locally(consumer):
    with _local_lock:
        watchers = _local.get(str(consumer.run_id))
        if watchers is not None:
            watchers.discard(consumer)
            if not watchers:
                del _local[str(consumer.run_id)]


def wake_watchers(run_id, seq):
    with _local_lock:
        watchers = list(_local.get(str(run_id), ()))
    for consumer in watchers:
        try:
            consumer.loop.call_soon_threadsafe(consumer.wake, seq)
        except RuntimeError:  # its loop has ended: that page is gone, and the writer's commit must not fail
            unwatch_locally(consumer)
