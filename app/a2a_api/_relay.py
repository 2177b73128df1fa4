"""Cancels across replicas, through the store they share (``rate_limit.backend: redis``): a
CancelTask for a task that runs on another replica is published on one channel as the task's
key (a digest of the caller's subject and the task id, so a subject only ever names its own
tasks); every replica listens and cancels the matching task it runs. Best effort: a publish
waits at most the store's timeout; the listener reconnects on its own and stops on shutdown.
(The MCP endpoint relays its cancels the same way, app/mcp/_relay.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import redis.asyncio as aioredis
import structlog

from app.config import AppConfig
from app.limits import STORE_ERRORS, shared_store_client

log = structlog.get_logger("agentsmcp.a2a")

CHANNEL: Final = "a2a:cancel"
LISTEN_SECONDS: Final = 1.0
STOP_SECONDS: Final = 2.0


class CancelRelay:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        cancel: Callable[[str], bool],
        *,
        timeout: float,
        retry_interval: float,
    ) -> None:
        self._client = client
        self._channel = f"{prefix}{CHANNEL}"
        self._cancel = cancel
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._origin = secrets.token_hex(8)
        self.subscribed = asyncio.Event()

    async def publish(self, key: str) -> bool:
        payload = json.dumps({"origin": self._origin, "task": key})
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.publish(self._channel, payload)
        except STORE_ERRORS as exc:
            log.warning("a2a cancel relay: publish failed", error_type=type(exc).__name__)
            return False
        return True

    def receive(self, data: Any) -> bool:
        try:
            message = json.loads(data)
            origin, key = message["origin"], message["task"]
        except (ValueError, TypeError, KeyError):
            return False
        if origin == self._origin or not isinstance(key, str):
            return False
        if not self._cancel(key):
            return False
        log.info("a2a cancel relayed from another replica")
        return True

    async def listen(self) -> None:
        failing = False
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    async with asyncio.timeout(self._timeout):
                        await pubsub.subscribe(self._channel)
                    failing = False
                    self.subscribed.set()
                    while True:
                        message = await pubsub.get_message(timeout=LISTEN_SECONDS)
                        if message is not None and message.get("type") == "message":
                            self.receive(message["data"])
            except STORE_ERRORS as exc:
                self.subscribed.clear()
                if not failing:
                    log.warning(
                        "a2a cancel relay: store unreachable, retrying",
                        error_type=type(exc).__name__,
                    )
                    failing = True
            except Exception:
                self.subscribed.clear()
                log.exception("a2a cancel relay: unexpected error, retrying")
            await asyncio.sleep(self._retry_interval)


@contextlib.asynccontextmanager
async def cancel_relay(
    config: AppConfig, cancel: Callable[[str], bool]
) -> AsyncIterator[CancelRelay | None]:
    client = shared_store_client(config)
    if client is None:
        yield None
        return
    settings = config.rate_limit.redis
    relay = CancelRelay(
        client,
        settings.key_prefix,
        cancel,
        timeout=settings.timeout_seconds,
        retry_interval=settings.retry_interval_seconds,
    )
    listener = asyncio.create_task(relay.listen(), name="a2a-cancel-relay")
    try:
        yield relay
    finally:
        listener.cancel()
        await asyncio.wait({listener}, timeout=STOP_SECONDS)
        with contextlib.suppress(*STORE_ERRORS):
            async with asyncio.timeout(STOP_SECONDS):
                await client.aclose()
