"""Cancels across replicas, through the store they share (``rate_limit.backend: redis``).

In the handshake era a cancel is its own POST, and behind round robin it usually reaches a
replica that is not running the call (hosts rarely echo ``Mcp-Session-Id``, so an Ingress cannot
pin a session). A ``notifications/cancelled`` that matches no call here is published on one
channel as the call's key: a digest of the sender's subject, session and request id, so a
subject can only ever name its own calls. Every replica listens on the channel and cancels the
matching call it runs (the relay itself: app/limits/relay.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

import structlog

from app.config import AppConfig
from app.limits.relay import StoreRelay, store_relay

from ._calls import InFlight
from ._metrics import McpMetrics

log = structlog.get_logger("agentsmcp.mcp")

CHANNEL: Final = "mcp:cancel"
CancelRelay = StoreRelay


@contextlib.asynccontextmanager
async def cancel_relay(
    config: AppConfig, inflight: InFlight, metrics: McpMetrics
) -> AsyncIterator[CancelRelay | None]:
    """The relay, listening, while the block runs (None without a shared store)."""

    def cancel(key: str) -> bool:
        if not inflight.cancel(key):
            return False
        metrics.cancelled("relayed")
        log.info("mcp cancel relayed from another replica")
        return True

    async with store_relay(config, CHANNEL, cancel, field="call", name="mcp cancel relay") as relay:
        yield relay
