"""The OpenAI Responses API front door: ``POST /v1/responses`` (agents as models), and the stored
responses' ``GET`` and ``DELETE /v1/responses/{id}``. It translates a response request into a
core run and the run's deltas into the Responses API's typed events (docs/responses.md).

Wiring (two lines): its route records, ``responses_routes(config)``, in
``app.routes.route_table``, and ``setup_responses(app)`` (the response store) in
``app.server.create_app``.
"""

from __future__ import annotations

from aiohttp import web

from ._store import response_store_ctx
from .models import REQUEST_MODELS, RESPONSE_MODELS
from .routes import responses_routes

__all__ = ["REQUEST_MODELS", "RESPONSE_MODELS", "responses_routes", "setup_responses"]


def setup_responses(app: web.Application) -> None:
    """The stored responses: in-process, or in the shared store when one is configured."""
    app.cleanup_ctx.append(response_store_ctx)
