"""The OpenAI-compatible front door: ``/v1/models`` (agents as models) and
``/v1/chat/completions``. It translates a chat completion request into a core run and the run's
deltas into OpenAI's chunks.

Wiring (one line): its route records, ``openai_routes(config)``, in ``app.routes.route_table``.
"""

from __future__ import annotations

from .models import REQUEST_MODELS, RESPONSE_MODELS
from .routes import openai_routes

__all__ = ["REQUEST_MODELS", "RESPONSE_MODELS", "openai_routes"]
