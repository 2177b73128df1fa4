"""MCP metrics (names fixed: alerts and dashboards use them). Label values are bounded: an
unknown method or tool name is counted as ``other``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from prometheus_client import CollectorRegistry

from app.observability import catalogue

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

RequestOutcome = Literal["ok", "error", "rejected"]
# How an MCP tools/call (an agent run) ended.
McpCallOutcome = Literal["ok", "tool_error", "cancelled", "error"]
CancelReason = Literal["notification", "disconnect", "relayed"]
CANCEL_REASONS: Final = ("notification", "disconnect", "relayed")


class McpMetrics(catalogue.McpMetricSet):
    def __init__(self, registry: CollectorRegistry, tools: Iterable[str]) -> None:
        super().__init__(registry)
        self._tools = frozenset(tools)
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
