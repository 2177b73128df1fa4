"""The route table: the core's records, then each front door's, in one tuple. The router
registers it (``app.contract.routes.register`` in ``app.server.create_app``), app/openapi.py
describes it, and the middlewares take their path policies from it (:func:`path_policies`)."""

from __future__ import annotations

from app.a2a_api import a2a_routes
from app.config import AppConfig
from app.contract.routes import PathPolicies, Route
from app.core_routes import UNDECLARED_PREFIXES, core_routes
from app.mcp import mcp_routes
from app.openai_api import openai_routes
from app.responses_api import responses_routes
from app.runs_api import runs_routes


def route_table(config: AppConfig) -> tuple[Route, ...]:
    """Every route of an app built from ``config``: served ones, and declared ones it does not
    serve (``/metrics`` on its own port)."""
    return (
        *core_routes(config),
        *openai_routes(config),
        *runs_routes(config),
        *responses_routes(config),
        *mcp_routes(config),
        *a2a_routes(config),
    )


def path_policies(table: tuple[Route, ...], config: AppConfig) -> PathPolicies:
    return PathPolicies(table, config.auth.public_paths, UNDECLARED_PREFIXES)
