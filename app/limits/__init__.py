"""Request limits and token budgets, per subject and per agent, in this process or shared by
every replica through Redis/Valkey (``rate_limit.backend``).

Wiring: ``app.cleanup_ctx.append(limits_ctx)`` (before the agent runner) and
``make_rate_limit_middleware(config)`` in the middleware chain; handlers get a run's
:class:`BudgetAccount` from :func:`account_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from app.app_keys import CONFIG_KEY, METRICS_KEY
from app.config import AppConfig

from ._keys import LIMITS_KEY, QUOTA_KEY
from ._limits import BudgetAccount, Limits, Quota
from ._metrics import LimitMetrics
from ._middleware import make_rate_limit_middleware
from ._model import Bucket, Budget, Decision, Reservation
from ._shared import FailoverStore, StoreUnavailableError, store_errors
from ._store import LimitStore, MemoryStore

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = [
    "LIMITS_KEY",
    "QUOTA_KEY",
    "Bucket",
    "Budget",
    "BudgetAccount",
    "Decision",
    "FailoverStore",
    "LimitStore",
    "Limits",
    "MemoryStore",
    "Quota",
    "Reservation",
    "StoreUnavailableError",
    "account_for",
    "limits_ctx",
    "make_rate_limit_middleware",
    "shared_store_client",
    "store_errors",
]

log = structlog.get_logger("agentsmcp.limits")


def account_for(request: web.Request) -> BudgetAccount | None:
    """The token account of a run requested by ``request`` (None when no budget applies)."""
    limits = request.app.get(LIMITS_KEY)
    if limits is None:
        return None
    return limits.account(request.get(QUOTA_KEY))


def shared_store_client(config: AppConfig) -> aioredis.Redis | None:
    """A new client of the store every replica shares (``rate_limit.backend: redis``), or None
    when the deployment has none. Other features use it too (the MCP cancel relay)."""
    settings = config.rate_limit
    if not (settings.enabled and settings.backend == "redis"):
        return None
    assert config.redis_url is not None  # the config model requires it for this backend
    from ._redis import connect  # redis-py is loaded only for this backend

    password = config.redis_password.get_secret_value() if config.redis_password else None
    return connect(config.redis_url.get_secret_value(), password, settings.redis.timeout_seconds)


async def limits_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the shared store's client (redis backend) on startup and close it on cleanup."""
    config = app[CONFIG_KEY]
    settings = config.rate_limit
    client = shared_store_client(config)
    metrics = LimitMetrics(app[METRICS_KEY].registry, list(config.agents))
    local = MemoryStore()
    if client is None:
        app[LIMITS_KEY] = Limits(settings, local, local, metrics)
        yield
        return
    from ._redis import RedisStore

    store = FailoverStore(
        RedisStore(client, settings.redis.key_prefix),
        MemoryStore(),
        policy=settings.on_store_failure,
        timeout=settings.redis.timeout_seconds,
        retry_interval=settings.redis.retry_interval_seconds,
        metrics=metrics,
    )
    # Startup never waits for the store: an unreachable store is logged and handled by policy.
    await store.probe()
    if store.up:
        with contextlib.suppress(*store_errors()):
            await store.shared.load_scripts()
        log.info("rate-limit store connected", policy=settings.on_store_failure)
    probe = asyncio.create_task(store.run_probe(), name="rate-limit-store-probe")
    app[LIMITS_KEY] = Limits(settings, store, local, metrics)
    try:
        yield
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        await store.aclose()
