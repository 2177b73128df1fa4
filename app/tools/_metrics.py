"""Tool-call metrics. Label values stay bounded: agents and tool servers come from the config,
tool names from the servers' listings (a name the model made up is ``other``)."""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry

from app.observability.metrics import Declare

OTHER: Final = "other"
# How a tool call the model asked for ended (a tools agent's call of a tool server's tool).
ToolCallOutcome = Literal["ok", "error", "timeout", "invalid_arguments", "rejected"]
TOOL_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)
STEP_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)


class ToolMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        declare = Declare(registry)
        self.calls_total = declare.counter(
            "agentsmcp_tool_calls_total",
            "Tool calls of agents by tool server, tool and outcome (ok, error, timeout,"
            " invalid_arguments, rejected).",
            ("agent", "tool_server", "tool", "outcome"),
        )
        self.call_duration = declare.histogram(
            "agentsmcp_tool_call_duration_seconds",
            "Duration of tool calls to tool servers.",
            ("tool_server", "tool"),
            buckets=TOOL_DURATION_BUCKETS,
        )
        self.run_steps = declare.histogram(
            "agentsmcp_agent_run_steps",
            "Model calls per run of a tools agent.",
            ("agent",),
            buckets=STEP_BUCKETS,
        )
        self.list_refresh_failures = declare.counter(
            "agentsmcp_tool_list_refresh_failures_total",
            "Failed tools/list refreshes by tool server.",
            ("tool_server",),
        )

    def call(
        self, agent: str, server: str, tool: str, outcome: ToolCallOutcome, duration: float | None
    ) -> None:
        self.calls_total.labels(agent, server, tool, outcome).inc()
        if duration is not None:
            self.call_duration.labels(server, tool).observe(duration)
