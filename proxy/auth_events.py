"""Revocations announced to every worker of every instance, over a Redis channel.

Whoever revokes an API key or disables a user (the CLI, the dashboard) publishes on
``CHANNEL``; each worker's ``api_key_auth`` listens and drops its cached keys, so the next request
with a revoked key is checked against the database. Without Redis, or while it is gone, the auth
cache's TTL (``security.auth_cache_seconds``) still bounds how long a revoked key works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

CHANNEL = "llmgate:auth"
RETRY_SECONDS = 1.0
log = logging.getLogger("llmgate")


async def announce(redis_url: str) -> bool:
    """Ask every worker to forget cached API keys now; False when Redis is absent or did not answer."""
    if not redis_url:
        return False
    client = aioredis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        await client.publish(CHANNEL, b"forget")
        return True
    except (RedisError, OSError) as exc:
        log.warning("could not announce a revocation on Redis (%s); other instances see it within the auth cache TTL",
                    type(exc).__name__)
        return False
    finally:
        await client.aclose()


async def listen(redis_url: str, forget: Callable[[], None]) -> None:
    """Call ``forget`` for every announcement, until cancelled; reconnects when Redis goes away.

    ``forget`` also runs after each (re)subscription: announcements made while this worker was
    not listening are lost, so whatever it cached before may be stale.
    """
    warned = False
    while True:
        client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=1.0, health_check_interval=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            forget()
            if warned:
                log.warning("listening for revocations on Redis again")
                warned = False
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is not None:
                    forget()
        except (RedisError, OSError) as exc:
            if not warned:
                log.warning("not listening for revocations on Redis (%s); retrying every %g s",
                            type(exc).__name__, RETRY_SECONDS)
                warned = True
        finally:
            await pubsub.aclose()
            await client.aclose()
        await asyncio.sleep(RETRY_SECONDS)
