"""Tool-call metrics. Label values stay bounded: agents and tool servers come from the config,
tool names from the servers' listings (a name the model made up is ``other``)."""

from __future__ import annotations

from typing import Final, Literal

from app.observability import catalogue

OTHER: Final = "other"
# How a tool call the model asked for ended (a tools agent's call of a tool server's tool).
ToolCallOutcome = Literal["ok", "error", "timeout", "invalid_arguments", "rejected"]


class ToolMetrics(catalogue.ToolMetricSet):
    def call(
        self, agent: str, server: str, tool: str, outcome: ToolCallOutcome, duration: float | None
    ) -> None:
        self.calls_total.labels(agent, server, tool, outcome).inc()
        if duration is not None:
            self.call_duration.labels(server, tool).observe(duration)
