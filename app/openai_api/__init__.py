"""The OpenAI-compatible front door: ``/v1/models`` (agents as models) and
``/v1/chat/completions``. It translates a chat completion request into a core run and the run's
deltas into OpenAI's chunks.

Wiring (one line): ``setup_openai_routes(app)`` in ``app.routes``, after ``setup_core``.
"""

from __future__ import annotations

from aiohttp import web

from . import handlers
from .models import REQUEST_MODELS, RESPONSE_MODELS

__all__ = ["REQUEST_MODELS", "RESPONSE_MODELS", "setup_openai_routes"]


def setup_openai_routes(app: web.Application) -> None:
    app.router.add_get("/v1/models", handlers.list_models)
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
