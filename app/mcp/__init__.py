"""The MCP endpoint: every exposed agent as a tool, over Streamable HTTP at ``POST /mcp``.

Wiring (one line in the core): ``setup_mcp_routes(app, config)`` in ``app.routes``; it needs the
agent core's runner and admission (``app.core``), and registers the endpoint's JSON-RPC error
rendering for errors raised before the view (auth, rate limits, body size).
See docs/mcp.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel

from app.config import AppConfig
from app.shared_state import CONFIG_KEY, ERROR_RENDERERS_KEY, METRICS_KEY

from ._jsonrpc import (
    JsonRpcClientResponse,
    JsonRpcError,
    JsonRpcNotification,
    JsonRpcRequest,
    JsonRpcResult,
    McpStreamEvent,
)
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
from ._tools import OUTPUT_SCHEMA, ToolCatalogue, ToolInput, ToolOutput, json_schema
from ._view import MCP_PATH, McpEndpoint, method_not_allowed

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
    "setup_mcp_routes",
]

MCP_KEY = web.AppKey("mcp", McpEndpoint)
# The models whose JSON schemas the OpenAPI document (app.openapi) describes /mcp with.
OPENAPI_MODELS: tuple[type[BaseModel], ...] = (
    JsonRpcRequest,
    JsonRpcNotification,
    JsonRpcClientResponse,
    JsonRpcResult,
    JsonRpcError,
    McpStreamEvent,
)


def setup_mcp_routes(app: web.Application, config: AppConfig) -> None:
    """Add ``/mcp`` (when ``mcp.enabled``). Call after ``setup_core``."""
    if not config.mcp.enabled:
        return
    endpoint = McpEndpoint(config, app[METRICS_KEY].registry)
    app[MCP_KEY] = endpoint
    app[ERROR_RENDERERS_KEY][MCP_PATH] = endpoint.render_error
    app.router.add_post(MCP_PATH, endpoint.post)
    app.router.add_get(MCP_PATH, method_not_allowed)
    app.router.add_delete(MCP_PATH, method_not_allowed)
    app.cleanup_ctx.append(_cancel_relay_ctx)


async def _cancel_relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cancels relayed between replicas while the app runs, when they share a store."""
    endpoint = app[MCP_KEY]
    async with cancel_relay(app[CONFIG_KEY], endpoint.inflight, endpoint.metrics) as relay:
        endpoint.relay = relay
        try:
            yield
        finally:
            endpoint.relay = None
