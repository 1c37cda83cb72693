"""The Redis channel layer the site uses: channels-redis, made to wait out a Redis outage."""

import asyncio
import logging

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger("dc43.registry")
RETRY_SECONDS = 1.0


class RedisChannelLayer(BaseRedisChannelLayer):
    async def receive(self, channel):
        # channels ends a consumer whose layer receive raises: with Redis down every open run page
        # would close and reconnect in a loop without ever updating. Waiting here instead keeps the
        # page on its socket, where it reads the event log on its timer until Redis is back.
        while True:
            try:
                return await super().receive(channel)
            except (OSError, RedisError):
                logger.warning("Redis unreachable; page sockets wait and poll the log", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
