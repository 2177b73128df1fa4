"""The async application factory: everything an app needs is wired here."""

from __future__ import annotations

import asyncio

import aiohttp_cors
from aiohttp import web
from prometheus_client import CollectorRegistry

from app.a2a_api import setup_a2a
from app.app_keys import (
    CONFIG_KEY,
    ERROR_RENDERERS_KEY,
    METRICS_KEY,
    SHUTDOWN_DEADLINE_KEY,
    STATE_KEY,
)
from app.config import TRACE_FLUSH_SECONDS, AppConfig
from app.contract.routes import Route, register
from app.core import agent_runner_ctx, setup_core
from app.core_routes import OPENAPI_DOCUMENT_KEY, metrics_route
from app.limits import limits_ctx
from app.mcp import METHOD_HEADER, NAME_HEADER, SESSION_HEADER, VERSION_HEADER, setup_mcp
from app.middlewares import REQUEST_ID_HEADER, build_middlewares, set_response_headers
from app.oauth_discovery import challenge_for
from app.observability import tracing
from app.observability.metrics import Metrics
from app.oidc import setup_oidc
from app.openapi import render_document
from app.responses_api import setup_responses
from app.routes import path_policies, route_table
from app.server_state import ServerState

# Response headers a browser script may read on a cross-origin response.
CORS_EXPOSED_HEADERS = (
    REQUEST_ID_HEADER,
    # Where a browser client finds the OAuth metadata (resource_metadata) and what failed.
    "WWW-Authenticate",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    # MCP (docs/mcp.md): browser clients read the session (and the auth challenge, above).
    SESSION_HEADER,
)
# Request headers a browser script may send cross-origin (MCP's included).
CORS_ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    REQUEST_ID_HEADER,
    SESSION_HEADER,
    VERSION_HEADER,
    METHOD_HEADER,
    NAME_HEADER,
    # Sent by resuming clients; ignored here (streams are not resumable), but never refused.
    "Last-Event-ID",
)
CORS_MAX_AGE_SECONDS = 600


def create_app(config: AppConfig, *, registry: CollectorRegistry | None = None) -> web.Application:
    """Build the application for ``config``. Each app gets its own metrics registry by default."""
    table = route_table(config)
    # From the OpenTelemetry environment; before the middlewares (the tracing one is built
    # only when it is on).
    traced = tracing.configure()
    app = web.Application(
        middlewares=build_middlewares(config, path_policies(table, config)),
        client_max_size=config.server.max_body_bytes,
    )
    state = ServerState()
    app[CONFIG_KEY] = config
    app[STATE_KEY] = state
    app[METRICS_KEY] = Metrics(registry if registry is not None else CollectorRegistry())
    app[SHUTDOWN_DEADLINE_KEY] = state.shutdown_deadline
    app[ERROR_RENDERERS_KEY] = {}
    app[OPENAPI_DOCUMENT_KEY] = render_document(config, table)

    setup_core(app, config)
    setup_mcp(app, config)
    setup_responses(app)
    register(app.router, table)
    # The limits store client, then provider clients: opened on startup, closed on cleanup.
    app.cleanup_ctx.append(limits_ctx)
    app.cleanup_ctx.append(agent_runner_ctx)
    # After the runner's: its tasks need the runner, and stop before the providers close.
    setup_a2a(app, config)
    # The OpenID provider's key client (auth.oidc); startup never waits for the provider.
    setup_oidc(app, config, challenge_for(config.auth))
    if traced:
        tracing.count_drops(app[METRICS_KEY].trace_spans_dropped_total)
        app.on_cleanup.append(_stop_tracing)
    app.on_startup.append(_mark_started)
    app.on_response_prepare.append(set_response_headers)
    _setup_cors(app, config, table)
    return app


def create_metrics_app(app: web.Application) -> web.Application:
    """The metrics listener's application: only ``GET /metrics`` of ``app``'s registry.

    It has no middlewares: scrapes need no token, are never rate limited and do not count in
    the HTTP metrics. It is served on ``metrics.port``, which no Ingress or HTTPRoute routes.
    """
    metrics_app = web.Application()
    metrics_app[METRICS_KEY] = app[METRICS_KEY]
    register(metrics_app.router, (metrics_route(),))
    return metrics_app


async def _stop_tracing(app: web.Application) -> None:
    # The last spans are exported, within the part of the pods' grace period set aside for it.
    await asyncio.to_thread(tracing.shutdown, TRACE_FLUSH_SECONDS)


async def _mark_started(app: web.Application) -> None:
    state = app[STATE_KEY]
    if state.not_ready_reason == "starting":
        state.not_ready_reason = None


def _setup_cors(app: web.Application, config: AppConfig, table: tuple[Route, ...]) -> None:
    # Without allowed origins there is nothing to answer; skip the per-response CORS signal.
    if not config.server.cors_origins:
        return
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=True,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_headers=CORS_ALLOWED_HEADERS,
        max_age=CORS_MAX_AGE_SECONDS,
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(config.server.cors_origins, options))
    # Views answering CORS themselves (the OAuth metadata: any origin, never credentials).
    own_cors = {route.path for route in table if route.own_cors}
    for route in list(app.router.routes()):
        if route.resource is None or route.resource.canonical not in own_cors:
            cors.add(route)
