"""Cancels across replicas, through the store they share (``rate_limit.backend: redis``): a
CancelTask for a task that runs on another replica is published as the task's key (a digest of
the caller's subject and the task id, so a subject only ever names its own tasks); every replica
cancels the matching task it runs (the relay itself: app/limits/relay.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Final

import structlog

from app.config import AppConfig
from app.limits.relay import StoreRelay, store_relay

log = structlog.get_logger("agentsmcp.a2a")

CHANNEL: Final = "a2a:cancel"


@contextlib.asynccontextmanager
async def cancel_relay(
    config: AppConfig, cancel_here: Callable[[str], bool]
) -> AsyncIterator[StoreRelay | None]:
    """The relay, listening, while the block runs (None without a shared store)."""

    def cancel(key: str) -> bool:
        if not cancel_here(key):
            return False
        log.info("a2a cancel relayed from another replica")
        return True

    async with store_relay(config, CHANNEL, cancel, field="task", name="a2a cancel relay") as relay:
        yield relay
