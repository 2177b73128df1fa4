"""The MCP endpoint: every exposed agent as a tool, over Streamable HTTP at ``POST /mcp``.

Wiring (two lines in the core): its route records, ``mcp_routes(config)``, in
``app.routes.route_table``, and ``setup_mcp(app, config)`` in ``app.server.create_app``; it needs
the agent core's runner and admission (``app.core``), and registers the endpoint's JSON-RPC error
rendering for errors raised before the view (auth, rate limits, body size).
See docs/mcp.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from app.app_keys import CONFIG_KEY, METRICS_KEY
from app.config import AppConfig
from app.http.jsonrpc import mount_endpoint

from ._metrics import McpMetrics
from ._protocol import (
    HANDSHAKE_VERSIONS,
    METHOD_HEADER,
    NAME_HEADER,
    SESSION_HEADER,
    STATELESS_VERSIONS,
    SUPPORTED_VERSIONS,
    VERSION_HEADER,
)
from ._relay import CancelRelay, cancel_relay
from ._routes import MCP_KEY, OPENAPI_MODELS, mcp_routes
from ._tools import OUTPUT_SCHEMA, ToolCatalogue, ToolInput, ToolOutput, json_schema
from ._view import MCP_PATH, McpEndpoint

__all__ = [
    "HANDSHAKE_VERSIONS",
    "MCP_KEY",
    "MCP_PATH",
    "METHOD_HEADER",
    "NAME_HEADER",
    "OPENAPI_MODELS",
    "OUTPUT_SCHEMA",
    "SESSION_HEADER",
    "STATELESS_VERSIONS",
    "SUPPORTED_VERSIONS",
    "VERSION_HEADER",
    "CancelRelay",
    "McpEndpoint",
    "McpMetrics",
    "ToolCatalogue",
    "ToolInput",
    "ToolOutput",
    "cancel_relay",
    "json_schema",
    "mcp_routes",
    "setup_mcp",
]


def setup_mcp(app: web.Application, config: AppConfig) -> None:
    """The endpoint behind ``/mcp``'s routes (when ``mcp.enabled``). Call after ``setup_core``."""
    if not config.mcp.enabled:
        return
    endpoint = McpEndpoint(config, app[METRICS_KEY].registry)
    mount_endpoint(app, MCP_KEY, endpoint, MCP_PATH, _cancel_relay_ctx)


async def _cancel_relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cancels relayed between replicas while the app runs, when they share a store."""
    endpoint = app[MCP_KEY]
    async with cancel_relay(app[CONFIG_KEY], endpoint.inflight, endpoint.metrics) as relay:
        endpoint.relay = relay
        try:
            yield
        finally:
            endpoint.relay = None
