"""MCP metrics (names fixed: alerts and dashboards use them). Label values are bounded: an
unknown method or tool name is counted as ``other``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from prometheus_client import CollectorRegistry

from app.observability.metrics import Declare

OTHER: Final = "other"
METHODS: Final = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "server/discover",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "notifications/initialized",
        "notifications/cancelled",
    }
)
PROGRESS_GAP_BUCKETS: Final = (0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)

RequestOutcome = Literal["ok", "error", "rejected"]
# How an MCP tools/call (an agent run) ended.
McpCallOutcome = Literal["ok", "tool_error", "cancelled", "error"]
CancelReason = Literal["notification", "disconnect", "relayed"]
CANCEL_REASONS: Final = ("notification", "disconnect", "relayed")


class McpMetrics:
    def __init__(self, registry: CollectorRegistry, tools: Iterable[str]) -> None:
        declare = Declare(registry)
        self._tools = frozenset(tools)
        self.requests_total = declare.counter(
            "agentsmcp_mcp_requests_total",
            "MCP messages by JSON-RPC method and outcome (ok; error: a JSON-RPC error answer;"
            " rejected: refused before it was served, e.g. bad headers, auth, overload).",
            ("method", "outcome"),
        )
        self.tool_calls_total = declare.counter(
            "agentsmcp_mcp_tool_calls_total",
            "MCP tools/call by tool and outcome (ok; tool_error: an isError result such as a"
            " provider failure, timeout or spent budget; cancelled; error: a JSON-RPC error).",
            ("tool", "outcome"),
        )
        self.tool_call_duration = declare.histogram(
            "agentsmcp_mcp_tool_call_duration_seconds",
            "Duration of MCP tool calls that ran an agent.",
            ("tool",),
        )
        self.progress_gap = declare.histogram(
            "agentsmcp_mcp_progress_gap_seconds",
            "Seconds between consecutive progress notifications of one MCP tool call.",
            buckets=PROGRESS_GAP_BUCKETS,
        )
        self.cancellations_total = declare.counter(
            "agentsmcp_mcp_cancellations_total",
            "MCP tool calls cancelled, by reason (notification: notifications/cancelled;"
            " disconnect: the client closed the connection; relayed: notifications/cancelled"
            " received by another replica and relayed through the shared store).",
            ("reason",),
        )
        # Series that alerts divide by exist from the start.
        for reason in CANCEL_REASONS:
            self.cancellations_total.labels(reason)
        for tool in self._tools:
            for outcome in ("ok", "tool_error", "cancelled", "error"):
                self.tool_calls_total.labels(tool, outcome)

    def request(self, method: str | None, outcome: RequestOutcome) -> None:
        label = method if method in METHODS else OTHER
        self.requests_total.labels(label, outcome).inc()

    def tool_label(self, name: str) -> str:
        return name if name in self._tools else OTHER

    def tool_call(self, tool: str, outcome: McpCallOutcome, duration: float | None = None) -> None:
        label = self.tool_label(tool)
        self.tool_calls_total.labels(label, outcome).inc()
        if duration is not None:
            self.tool_call_duration.labels(label).observe(duration)

    def cancelled(self, reason: CancelReason) -> None:
        self.cancellations_total.labels(reason).inc()
