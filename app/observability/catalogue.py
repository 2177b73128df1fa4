"""Every metric the server exports: name, help, labels and buckets, in one place (the names are
fixed: alerts and dashboards use them). The classes that update them register these entries on an
application's registry with :meth:`on`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Upstream LLM calls make multi-second requests normal, so the buckets reach well past 10 s.
DURATION_BUCKETS = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
# Time to first token is usually well under the full run; finer low buckets.
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TOOL_DURATION_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
STEP_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)
PROGRESS_GAP_BUCKETS: Final = (0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class _Metric:
    name: str
    documentation: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CounterMetric(_Metric):
    def on(self, registry: CollectorRegistry) -> Counter:
        return Counter(self.name, self.documentation, self.labels, registry=registry)


@dataclass(frozen=True, slots=True)
class GaugeMetric(_Metric):
    def on(self, registry: CollectorRegistry) -> Gauge:
        return Gauge(self.name, self.documentation, self.labels, registry=registry)


@dataclass(frozen=True, slots=True)
class HistogramMetric(_Metric):
    buckets: tuple[float, ...] = DURATION_BUCKETS

    def on(self, registry: CollectorRegistry) -> Histogram:
        return Histogram(
            self.name, self.documentation, self.labels, buckets=self.buckets, registry=registry
        )


# HTTP and the server (app/observability/metrics.py).
HTTP_REQUESTS: Final = CounterMetric(
    "http_requests_total",
    "HTTP requests by method, matched route pattern and status.",
    ("method", "route", "status"),
)
HTTP_REQUEST_DURATION: Final = HistogramMetric(
    "http_request_duration_seconds",
    "HTTP request duration by method and matched route pattern.",
    ("method", "route"),
)
HTTP_IN_FLIGHT: Final = GaugeMetric("http_requests_in_flight", "HTTP requests being handled.")
RATE_LIMITED: Final = CounterMetric(
    "agentsmcp_rate_limited", "Requests rejected with 429 by the rate limiter."
)
OIDC_KEY_FETCHES: Final = CounterMetric(
    "agentsmcp_oidc_key_fetches",
    "Fetches of the OpenID provider's signing keys (auth.oidc) by outcome (ok, error).",
    ("outcome",),
)
BUILD_INFO: Final = GaugeMetric(
    "agentsmcp_build_info", "Build of the running server (always 1).", ("version", "commit")
)

# Agent runs (app/core/metrics.py).
AGENT_RUNS: Final = CounterMetric(
    "agentsmcp_agent_runs_total",
    "Agent runs by agent, provider and outcome (success, cancelled or the error code).",
    ("agent", "provider", "outcome"),
)
AGENT_RUN_DURATION: Final = HistogramMetric(
    "agentsmcp_agent_run_duration_seconds",
    "Duration of agent runs, streaming included.",
    ("agent",),
)
TIME_TO_FIRST_TOKEN: Final = HistogramMetric(
    "agentsmcp_time_to_first_token_seconds",
    "Time from the start of a streaming run to its first text delta.",
    ("agent",),
    buckets=TTFT_BUCKETS,
)
LLM_TOKENS: Final = CounterMetric(
    "agentsmcp_llm_tokens_total",
    "Tokens reported by providers, by kind (prompt or completion).",
    ("agent", "provider", "model", "kind"),
)
PROVIDER_REQUESTS: Final = CounterMetric(
    "agentsmcp_provider_requests_total",
    "Calls to provider SDKs (each including the SDK's own retries) by outcome.",
    ("provider", "outcome"),
)
INFLIGHT_RUNS: Final = GaugeMetric("agentsmcp_inflight_runs", "Agent runs in progress.", ("agent",))
ACCESS_REFUSALS: Final = CounterMetric(
    "agentsmcp_access_refusals_total",
    "Agent requests refused as for an unknown agent, by front door and reason"
    " (unknown_agent, forbidden, no_token).",
    ("front_door", "reason"),
)

# Tool calls of tools agents (app/tools/_metrics.py).
TOOL_CALLS: Final = CounterMetric(
    "agentsmcp_tool_calls_total",
    "Tool calls of agents by tool server, tool and outcome (ok, error, timeout,"
    " invalid_arguments, rejected).",
    ("agent", "tool_server", "tool", "outcome"),
)
TOOL_CALL_DURATION: Final = HistogramMetric(
    "agentsmcp_tool_call_duration_seconds",
    "Duration of tool calls to tool servers.",
    ("tool_server", "tool"),
    buckets=TOOL_DURATION_BUCKETS,
)
AGENT_RUN_STEPS: Final = HistogramMetric(
    "agentsmcp_agent_run_steps",
    "Model calls per run of a tools agent.",
    ("agent",),
    buckets=STEP_BUCKETS,
)
TOOL_LIST_REFRESH_FAILURES: Final = CounterMetric(
    "agentsmcp_tool_list_refresh_failures_total",
    "Failed tools/list refreshes by tool server.",
    ("tool_server",),
)

# The limiter (app/limits/_metrics.py). Labels are the limit's name and configured agents only.
RATELIMIT_REJECTIONS: Final = CounterMetric(
    "agentsmcp_ratelimit_rejections_total",
    "Requests refused with 429 by the named limit (agent is empty for the request limit).",
    ("limit", "agent"),
)
RATELIMIT_TOKENS_CHARGED: Final = CounterMetric(
    "agentsmcp_ratelimit_tokens_charged_total",
    "Tokens charged to budgets, from the providers' reported usage.",
    ("agent",),
)
RATELIMIT_STORE_ERRORS: Final = CounterMetric(
    "agentsmcp_ratelimit_store_errors_total",
    "Failed or timed-out calls to the shared limits store, by operation.",
    ("operation",),
)
RATELIMIT_STORE_FALLBACKS: Final = CounterMetric(
    "agentsmcp_ratelimit_store_fallbacks_total",
    "Times the shared store became unreachable and the failure policy took over.",
)
RATELIMIT_DEGRADED: Final = CounterMetric(
    "agentsmcp_ratelimit_degraded_total",
    "Limit decisions made without the shared store, by failure policy.",
    ("policy",),
)
RATELIMIT_STORE_UP: Final = GaugeMetric(
    "agentsmcp_ratelimit_store_up",
    "1 while the limits store answers (always 1 for the in-process store), 0 while the "
    "shared store does not.",
)

# MCP (app/mcp/_metrics.py).
MCP_REQUESTS: Final = CounterMetric(
    "agentsmcp_mcp_requests_total",
    "MCP messages by JSON-RPC method and outcome (ok; error: a JSON-RPC error answer;"
    " rejected: refused before it was served, e.g. bad headers, auth, overload).",
    ("method", "outcome"),
)
MCP_TOOL_CALLS: Final = CounterMetric(
    "agentsmcp_mcp_tool_calls_total",
    "MCP tools/call by tool and outcome (ok; tool_error: an isError result such as a"
    " provider failure, timeout or spent budget; cancelled; error: a JSON-RPC error).",
    ("tool", "outcome"),
)
MCP_TOOL_CALL_DURATION: Final = HistogramMetric(
    "agentsmcp_mcp_tool_call_duration_seconds",
    "Duration of MCP tool calls that ran an agent.",
    ("tool",),
)
MCP_PROGRESS_GAP: Final = HistogramMetric(
    "agentsmcp_mcp_progress_gap_seconds",
    "Seconds between consecutive progress notifications of one MCP tool call.",
    buckets=PROGRESS_GAP_BUCKETS,
)
MCP_CANCELLATIONS: Final = CounterMetric(
    "agentsmcp_mcp_cancellations_total",
    "MCP tool calls cancelled, by reason (notification: notifications/cancelled;"
    " disconnect: the client closed the connection; relayed: notifications/cancelled"
    " received by another replica and relayed through the shared store).",
    ("reason",),
)

# A2A (app/a2a_api/_metrics.py).
A2A_REQUESTS: Final = CounterMetric(
    "agentsmcp_a2a_requests_total",
    "A2A JSON-RPC requests by method, agent and outcome (ok; error: a JSON-RPC error"
    " answer; rejected: refused before the method ran, e.g. version, auth, overload).",
    ("method", "agent", "outcome"),
)
A2A_TASKS: Final = CounterMetric(
    "agentsmcp_a2a_tasks_total",
    "A2A tasks that ended, by agent and final state (completed, failed, canceled, rejected).",
    ("agent", "state"),
)
A2A_TASK_DURATION: Final = HistogramMetric(
    "agentsmcp_a2a_task_duration_seconds",
    "Duration of A2A tasks from submitted to their final state.",
    ("agent", "state"),
)
A2A_CANCELS_RELAYED: Final = CounterMetric(
    "agentsmcp_a2a_cancels_relayed_total",
    "A2A CancelTask requests received by another replica and relayed through the"
    " shared store to the one running the task.",
)
