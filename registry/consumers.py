import asyncio
import json

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
    default = 1.0 if layer is None or isinstance(layer, InMemoryChannelLayer) else 10.0
    return getattr(settings, "DC43_LIVE_POLL_SECONDS", default)


class RunConsumer(AsyncWebsocketConsumer):
    """Sends a run page every event of the run's log it has not seen, once, in order.

    The client opens with {"last_seq": N}. Wake-ups come from the channel group, and
    from reading the log on a timer, which also covers runs in other processes.
    """

    async def connect(self):
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.seen = None
        self.done = False
        self.lock = asyncio.Lock()
        self.poller = None
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
        self.poller = asyncio.create_task(self.poll(poll_seconds(self.channel_layer)))

    async def disconnect(self, code):
        self.done = True
        if self.poller:
            self.poller.cancel()
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
        await self.flush()

    async def poll(self, every):
        while not self.done:
            await asyncio.sleep(every)
            await self.flush()

    async def flush(self):
        async with self.lock:
            if self.seen is None or self.done:
                return
            update = await database_sync_to_async(live.updates_since)(self.run_id, self.seen)
            if update is None:
                self.done = True
                return await self.close(UNKNOWN_RUN)
            if update.html:
                await self.send(text_data=update.html)
            self.seen = update.seq
            if update.finished:
                self.done = True
                await self.close(FINISHED)
