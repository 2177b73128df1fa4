"""The runs front door: ``/v1/agents`` (the agents) and ``/v1/agents/{name}/runs`` (a run, its
steps and tool calls, streamed as ``run.*`` events).

Wiring (one line): its route records, ``runs_routes(config)``, in ``app.routes.route_table``.
"""

from __future__ import annotations

from .models import REQUEST_MODELS, RESPONSE_MODELS
from .routes import runs_routes

__all__ = ["REQUEST_MODELS", "RESPONSE_MODELS", "runs_routes"]
