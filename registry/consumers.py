from channels.generic.websocket import AsyncWebsocketConsumer


class RunConsumer(AsyncWebsocketConsumer):
    """Streams a run's event log to its page (filled in by the live-site issue)."""

    async def connect(self):
        await self.close(code=4404)
