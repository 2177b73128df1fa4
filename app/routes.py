"""URL table. Feature modules add their routes here, each with one ``setup_*_routes`` call."""

from __future__ import annotations

from aiohttp import web

from app import health
from app.config import AppConfig
from app.core import setup_core
from app.mcp import setup_mcp_routes
from app.oauth_discovery import setup_discovery_routes
from app.observability import exposition
from app.openai_api import setup_openai_routes
from app.openapi import OPENAPI_PATH, openapi_handler
from app.responses_api import setup_responses_routes
from app.runs_api import setup_runs_routes

METRICS_PATH = "/metrics"


def setup_core_routes(app: web.Application, config: AppConfig) -> None:
    app.router.add_get("/health", health.health, allow_head=True)
    app.router.add_get("/health/live", health.live, allow_head=True)
    app.router.add_get("/health/ready", health.ready, allow_head=True)
    # With metrics disabled, or on their own port (see create_metrics_app), /metrics answers 404.
    if config.metrics.enabled and config.metrics.port is None:
        app.router.add_get(METRICS_PATH, exposition.metrics)
    app.router.add_get(OPENAPI_PATH, openapi_handler(config))


def setup_routes(app: web.Application, config: AppConfig) -> None:
    setup_core_routes(app, config)
    setup_discovery_routes(app, config)
    setup_core(app, config)
    setup_openai_routes(app)
    setup_runs_routes(app)
    setup_responses_routes(app)
    setup_mcp_routes(app, config)
