import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import InMemoryChannelLayer
from django.conf import settings

from registry import live
from registry.access import can_view_runs
from registry.models import Run
from registry.wakeups import run_group, unwatch_locally, watch_locally

logger = logging.getLogger("dc43.registry")

# Close codes the page can tell apart; the htmx ws extension only reconnects after 1006/1011-1013.
NOT_LOGGED_IN, FORBIDDEN, UNKNOWN_RUN, BAD_MESSAGE = 4401, 4403, 4404, 4400
FINISHED, SERVER_ERROR = 1000, 1011
MAX_SEQ = 2**31 - 1  # RunEvent.seq is a PositiveIntegerField: a larger number names no event
POLLER_NAME = "dc43-run-poller"


def parse_last_seq(text):
    """The client's {"last_seq": N} as N, or None unless N is a plain JSON integer from 0 to MAX_SEQ."""

    def refuse(constant):  # NaN, Infinity, -Infinity: valid to Python's json, not to JSON
        raise ValueError(constant)

    try:
        message = json.loads(text, parse_constant=refuse)
    except (TypeError, ValueError, RecursionError):
        return None
    seq = message.get("last_seq") if isinstance(message, dict) else None
    # bool is an int to Python, and 1e400 parses as a float: only an int proper is a sequence number.
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        return None
    return seq


class RunConsumer(AsyncWebsocketConsumer):
    """Sends a run page every event of the run's log it has not seen, once, in order.

    The client opens with {"last_seq": N}. Wake-ups come from the channel group, from runs of
    this process directly (see `registry.wakeups`), and from reading the log on a timer, which
    also covers runs in other processes and a channel layer that is down.
    """

    poller = None

    async def connect(self):
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.seen = None
        self.done = False
        self.lock = asyncio.Lock()
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
        try:
            await self.channel_layer.group_add(run_group(self.run_id), self.channel_name)
        except Exception:
            logger.warning("channel layer unreachable: the page of run %s polls the log", self.run_id, exc_info=True)
        if in_memory(self.channel_layer):
            watch_locally(self)
        self.poller = asyncio.create_task(self.poll(settings.DC43_LIVE_POLL_SECONDS), name=POLLER_NAME)

    async def disconnect(self, code):
        try:
            if self.poller is not None:
                unwatch_locally(self)
                await self.channel_layer.group_discard(run_group(self.run_id), self.channel_name)
        except Exception:
            logger.warning("could not leave the group of run %s", self.run_id, exc_info=True)
        finally:
            await self.stop_polling()

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer ends without `disconnect` (an exception): no poller outlives its socket.
            await self.stop_polling()

    async def stop_polling(self):
        self.done = True
        poller, self.poller = self.poller, None
        if poller is not None and poller is not asyncio.current_task():
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def receive(self, text_data=None, bytes_data=None):
        if self.seen is not None or self.poller is None:
            return  # only the first message of a connection says where the client is
        seen = parse_last_seq(text_data)
        if seen is None:
            return await self.close(BAD_MESSAGE)
        self.seen = seen
        await self.flush()

    async def run_event(self, message):
        seq = message.get("seq")
        await self.flush(until=seq if type(seq) is int else 0)

    def wake(self, seq):
        """Called in this consumer's event loop (see `registry.wakeups.wake_watchers`): flush up to `seq` now."""
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
            try:
                update = await shared_updates_since(self.run_id, self.seen)
                if update is not None and update.seq < until and not update.finished:
                    # The shared read began before that event's commit: read again, after it.
                    update = await shared_updates_since(self.run_id, self.seen, fresh=True)
            except Exception:
                # A database blip: close so that the page reconnects and resumes from what it holds.
                logger.exception("could not read the event log of run %s", self.run_id)
                self.done = True
                return await self.close(SERVER_ERROR)
            if update is None:
                self.done = True
                return await self.close(UNKNOWN_RUN)
            if update.html:
                await self.send(text_data=update.html)
            self.seen = update.seq
            if update.finished:
                self.done = True
                await self.close(FINISHED)


def in_memory(layer):
    return layer is None or isinstance(layer, InMemoryChannelLayer)


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
