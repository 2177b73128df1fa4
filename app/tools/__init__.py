"""Tools from MCP tool servers for tools agents (``type: tools``): listings cached with a
TTL, arguments checked against each tool's input schema, calls over the official ``mcp``
client.

Wiring: ``app.core`` registers :class:`ToolMetrics` at startup (``setup_core``), and its runner's
cleanup context owns the :class:`ToolServers` (their connection pools and sessions). Importing
this package does not import ``mcp`` (about 50 MB and a second of start-up): only a config with
tool servers does.
See docs/tools.md.
"""

from __future__ import annotations

from aiohttp import web

from ._client import ToolServerError
from ._metrics import OTHER, ToolCallOutcome, ToolMetrics
from ._servers import CallOutput, ServerTool, Toolbox, ToolServer, ToolServers, metric_tool

TOOL_METRICS_KEY = web.AppKey("tool_metrics", ToolMetrics)

__all__ = [
    "OTHER",
    "TOOL_METRICS_KEY",
    "CallOutput",
    "ServerTool",
    "ToolCallOutcome",
    "ToolMetrics",
    "ToolServer",
    "ToolServerError",
    "ToolServers",
    "Toolbox",
    "metric_tool",
]
