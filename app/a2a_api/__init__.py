"""The A2A front door: every agent an A2A agent. Agent cards at ``/.well-known/agent-card.json``
(the server's) and ``/a2a/<agent>/.well-known/agent-card.json``, and A2A's JSON-RPC binding
(1.0 and 0.3) at ``POST /a2a/<agent>``, with tasks kept in-process or in the shared store.

Wiring (two lines): its route records, ``a2a_routes(config)``, in ``app.routes.route_table``,
and ``setup_a2a(app, config)`` in ``app.server.create_app`` after ``setup_core``. See docs/a2a.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from app.app_keys import CONFIG_KEY, METRICS_KEY
from app.config import AppConfig
from app.core import ADMISSION_KEY, RUNNER_KEY
from app.http.jsonrpc import mount_endpoint
from app.limits import shared_store_client

from ._relay import cancel_relay
from ._store import MemoryTaskStore, RedisTaskStore, TaskStore
from ._tasks import TaskService
from ._view import A2aEndpoint
from .routes import A2A_KEY, AGENT_PATH, a2a_routes

__all__ = ["A2A_KEY", "AGENT_PATH", "A2aEndpoint", "a2a_routes", "setup_a2a"]


def setup_a2a(app: web.Application, config: AppConfig) -> None:
    """The endpoint behind the A2A routes (when ``a2a.enabled``). Call after ``setup_core``."""
    if not config.a2a.enabled:
        return
    endpoint = A2aEndpoint(config, app[METRICS_KEY].registry)
    mount_endpoint(app, A2A_KEY, endpoint, AGENT_PATH, _tasks_ctx)


def _task_store(config: AppConfig) -> TaskStore:
    client = shared_store_client(config)
    if client is None:
        return MemoryTaskStore(config.a2a)
    settings = config.rate_limit.redis
    return RedisTaskStore(client, settings.key_prefix, config.a2a, timeout=settings.timeout_seconds)


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """The task store, the running tasks and the cancel relay while the app runs."""
    config = app[CONFIG_KEY]
    endpoint = app[A2A_KEY]
    store = _task_store(config)
    service = TaskService(config.a2a, app[RUNNER_KEY], app[ADMISSION_KEY], endpoint.metrics, store)
    endpoint.service = service
    async with cancel_relay(config, service.cancel_here) as relay:
        endpoint.relay = relay
        try:
            yield
        finally:
            endpoint.relay = None
            await service.stop()
            await store.aclose()
