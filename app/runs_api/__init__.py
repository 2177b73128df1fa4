"""The runs front door: ``/v1/agents`` (the agents) and ``/v1/agents/{name}/runs`` (a run, its
steps and tool calls, streamed as ``run.*`` events).

Wiring (one line): ``setup_runs_routes(app)`` in ``app.routes``, after ``setup_core``.
"""

from __future__ import annotations

from aiohttp import web

from . import handlers
from .models import REQUEST_MODELS, RESPONSE_MODELS

__all__ = ["REQUEST_MODELS", "RESPONSE_MODELS", "setup_runs_routes"]


def setup_runs_routes(app: web.Application) -> None:
    app.router.add_get("/v1/agents", handlers.list_agents)
    app.router.add_post("/v1/agents/{name}/runs", handlers.create_run)
