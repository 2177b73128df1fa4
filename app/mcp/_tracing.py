"""The ``tools/call <tool>`` span (OpenTelemetry MCP conventions): it continues the trace
context the client sent in ``params._meta`` (else the HTTP request's), so the agent run's spans
join the client's trace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from app.observability import tracing

from ._jsonrpc import JsonRpcRequest
from ._protocol import SESSION_HEADER, Era

if TYPE_CHECKING:
    from opentelemetry.trace import Span

MAX_NAME_CHARS = 128


def tools_call_span(request: web.Request, message: JsonRpcRequest, era: Era) -> Span | None:
    if not tracing.enabled():
        return None
    params = message.params if isinstance(message.params, dict) else {}
    meta = params.get("_meta")
    name = params.get("name")
    tool = name[:MAX_NAME_CHARS] if isinstance(name, str) else ""
    attributes: dict[str, tracing.AttributeValue] = {
        "mcp.method.name": "tools/call",
        "mcp.protocol.version": era.version,
        "jsonrpc.request.id": str(message.id),
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
    }
    session = request.headers.get(SESSION_HEADER)
    if session:
        attributes["mcp.session.id"] = session
    parent = tracing.extract(meta) if isinstance(meta, dict) else None
    return tracing.start_span(f"tools/call {tool}", attributes, kind="SERVER", parent=parent)
