"""Messages between replicas through the store they share (``rate_limit.backend: redis``): one
pub/sub channel, each message a key (a digest naming what it is about) that every replica hands
to its ``handle``. The front doors relay cancels this way (MCP's ``notifications/cancelled``,
A2A's ``CancelTask``): the replica that runs the call or task stops it.

Best effort: publishing waits at most the store's timeout and a failure is logged, never raised;
a message published while a replica is not subscribed (the store restarting) is lost. The
listener reconnects on its own and stops at once on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final

import structlog

from app.config import AppConfig

from . import shared_store_client, store_errors

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = structlog.get_logger("agentsmcp.relay")

# How long one wait for a message lasts: bounds how late the listener notices a stop.
LISTEN_SECONDS: Final = 1.0
# Shutdown waits at most this for the listener to close its connection.
STOP_SECONDS: Final = 2.0


@dataclasses.dataclass(eq=False, slots=True)
class StoreRelay:
    """Publishes keys on ``channel`` and hands the other replicas' keys to ``handle``
    (True: it acted on one). ``field`` names the key in the JSON message; ``name`` the relay in
    logs."""

    client: aioredis.Redis
    channel: str
    handle: Callable[[str], bool]
    _: dataclasses.KW_ONLY
    field: str
    name: str
    timeout: float
    retry_interval: float
    # Skips this replica's own messages: it already found nothing to act on.
    origin: str = dataclasses.field(init=False, default_factory=lambda: secrets.token_hex(8))
    subscribed: asyncio.Event = dataclasses.field(init=False, default_factory=asyncio.Event)

    async def publish(self, key: str) -> bool:
        """Hand ``key`` to the other replicas; False if the store failed."""
        payload = json.dumps({"origin": self.origin, self.field: key})
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.publish(self.channel, payload)
        except store_errors() as exc:
            log.warning(f"{self.name}: publish failed", error_type=type(exc).__name__)
            return False
        return True

    def receive(self, data: Any) -> bool:
        """Hand a relayed message's key to ``handle``, unless it is this replica's own."""
        try:
            message = json.loads(data)
            origin, key = message["origin"], message[self.field]
        except (ValueError, TypeError, KeyError):
            return False
        if origin == self.origin or not isinstance(key, str):
            return False
        return self.handle(key)

    async def listen(self) -> None:
        """Receive relayed messages until cancelled, reconnecting after store failures."""
        failing = False
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    async with asyncio.timeout(self.timeout):
                        await pubsub.subscribe(self.channel)
                    log.info(f"{self.name}: listening", channel=self.channel)
                    failing = False
                    self.subscribed.set()
                    while True:
                        message = await pubsub.get_message(timeout=LISTEN_SECONDS)
                        if message is not None and message.get("type") == "message":
                            self.receive(message["data"])
            except store_errors() as exc:
                self.subscribed.clear()
                if not failing:
                    log.warning(
                        f"{self.name}: store unreachable, retrying",
                        error_type=type(exc).__name__,
                    )
                    failing = True
            except Exception:
                # A bug must not end relaying for the life of the process.
                self.subscribed.clear()
                log.exception(f"{self.name}: unexpected error, retrying")
            await asyncio.sleep(self.retry_interval)


@contextlib.asynccontextmanager
async def store_relay(
    config: AppConfig, channel: str, handle: Callable[[str], bool], *, field: str, name: str
) -> AsyncIterator[StoreRelay | None]:
    """The relay on ``channel`` (under the store's key prefix), listening while the block runs;
    None without a shared store. Startup never waits for the store, nor does the exit."""
    client = shared_store_client(config)
    if client is None:
        yield None
        return
    settings = config.rate_limit.redis
    relay = StoreRelay(
        client,
        f"{settings.key_prefix}{channel}",
        handle,
        field=field,
        name=name,
        timeout=settings.timeout_seconds,
        retry_interval=settings.retry_interval_seconds,
    )
    listener = asyncio.create_task(relay.listen(), name=name.replace(" ", "-"))
    try:
        yield relay
    finally:
        listener.cancel()
        await asyncio.wait({listener}, timeout=STOP_SECONDS)
        with contextlib.suppress(*store_errors()):
            async with asyncio.timeout(STOP_SECONDS):
                await client.aclose()
