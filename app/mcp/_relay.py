"""Cancels across replicas, through the store they share (``rate_limit.backend: redis``).

In the handshake era a cancel is its own POST, and behind round robin it usually reaches a
replica that is not running the call (hosts rarely echo ``Mcp-Session-Id``, so an Ingress cannot
pin a session). A ``notifications/cancelled`` that matches no call here is published on one
channel as the call's key: a digest of the sender's subject, session and request id, so a
subject can only ever name its own calls. Every replica listens on the channel and cancels the
matching call it runs.

Best effort, like cancellation itself: publishing waits at most the store's timeout and a failure
is logged, never answered to the client; a cancel published while a replica is not subscribed
(the store restarting) is lost. The listener reconnects on its own and stops at once on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any, Final

import redis.asyncio as aioredis
import structlog

from app.config import AppConfig
from app.limits import STORE_ERRORS, shared_store_client

from ._calls import CallKey, InFlight
from ._metrics import McpMetrics

log = structlog.get_logger("agentsmcp.mcp")

CHANNEL: Final = "mcp:cancel"
# How long one wait for a message lasts: bounds how late the listener notices a stop.
LISTEN_SECONDS: Final = 1.0
# Shutdown waits at most this for the listener to close its connection.
STOP_SECONDS: Final = 2.0


class CancelRelay:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        inflight: InFlight,
        metrics: McpMetrics,
        *,
        timeout: float,
        retry_interval: float,
    ) -> None:
        self._client = client
        self._channel = f"{prefix}{CHANNEL}"
        self._inflight = inflight
        self._metrics = metrics
        self._timeout = timeout
        self._retry_interval = retry_interval
        # Skips this replica's own messages: it already found no such call.
        self._origin = secrets.token_hex(8)
        self.subscribed = asyncio.Event()

    async def publish(self, key: CallKey) -> bool:
        """Ask the other replicas to cancel the call ``key``; False if the store failed."""
        payload = json.dumps({"origin": self._origin, "call": key})
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.publish(self._channel, payload)
        except STORE_ERRORS as exc:
            log.warning("mcp cancel relay: publish failed", error_type=type(exc).__name__)
            return False
        return True

    def receive(self, data: Any) -> bool:
        """Cancel the call a relayed message names, if it runs here."""
        try:
            message = json.loads(data)
            origin, key = message["origin"], message["call"]
        except (ValueError, TypeError, KeyError):
            return False
        if origin == self._origin or not isinstance(key, str):
            return False
        if not self._inflight.cancel(key):
            return False
        self._metrics.cancelled("relayed")
        log.info("mcp cancel relayed from another replica")
        return True

    async def listen(self) -> None:
        """Receive relayed cancels until cancelled, reconnecting after store failures."""
        failing = False
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    async with asyncio.timeout(self._timeout):
                        await pubsub.subscribe(self._channel)
                    log.info("mcp cancel relay: listening", channel=self._channel)
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
                        "mcp cancel relay: store unreachable, retrying",
                        error_type=type(exc).__name__,
                    )
                    failing = True
            except Exception:
                # A bug must not end relaying for the life of the process.
                self.subscribed.clear()
                log.exception("mcp cancel relay: unexpected error, retrying")
            await asyncio.sleep(self._retry_interval)


@contextlib.asynccontextmanager
async def cancel_relay(
    config: AppConfig, inflight: InFlight, metrics: McpMetrics
) -> AsyncIterator[CancelRelay | None]:
    """The relay, listening, while the block runs (None without a shared store). Startup never
    waits for the store, and the exit does not wait on it either."""
    client = shared_store_client(config)
    if client is None:
        yield None
        return
    settings = config.rate_limit.redis
    relay = CancelRelay(
        client,
        settings.key_prefix,
        inflight,
        metrics,
        timeout=settings.timeout_seconds,
        retry_interval=settings.retry_interval_seconds,
    )
    listener = asyncio.create_task(relay.listen(), name="mcp-cancel-relay")
    try:
        yield relay
    finally:
        listener.cancel()
        await asyncio.wait({listener}, timeout=STOP_SECONDS)
        with contextlib.suppress(*STORE_ERRORS):
            async with asyncio.timeout(STOP_SECONDS):
                await client.aclose()
