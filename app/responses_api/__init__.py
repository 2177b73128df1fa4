"""The OpenAI Responses API front door: ``POST /v1/responses`` (agents as models), and the stored
responses' ``GET`` and ``DELETE /v1/responses/{id}``. It translates a response request into a
core run and the run's deltas into the Responses API's typed events (docs/responses.md).

Wiring (one line): ``setup_responses_routes(app)`` in ``app.routes``, after ``setup_core``.
"""

from __future__ import annotations

from aiohttp import web

from . import handlers
from ._store import response_store_ctx
from .models import REQUEST_MODELS, RESPONSE_MODELS

__all__ = ["REQUEST_MODELS", "RESPONSE_MODELS", "setup_responses_routes"]


def setup_responses_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(response_store_ctx)
    app.router.add_post("/v1/responses", handlers.create_response)
    app.router.add_get("/v1/responses/{response_id}", handlers.get_response)
    app.router.add_delete("/v1/responses/{response_id}", handlers.delete_response)
