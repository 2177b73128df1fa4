"""Every metric the server exports: name, help, labels and buckets, in one place (the names are
fixed: alerts and dashboards use them), grouped by the part of the server that updates them. The
classes that update them (``AgentMetrics``, ``McpMetrics``, ...) derive from their group's
:class:`MetricSet`, which registers the group on an application's registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Generic, Self, TypeVar, overload

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

M = TypeVar("M", Counter, Gauge, Histogram)


@dataclass(frozen=True, slots=True)
class _Metric(Generic[M]):
    """A metric's declaration, as an attribute of a :class:`MetricSet`: on the set's instances the
    attribute is the metric registered on the set's registry."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()

    def on(self, registry: CollectorRegistry) -> M:
        raise NotImplementedError

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> M: ...
    def __get__(self, instance: object, owner: type[Any]) -> Self | M:
        if instance is None:
            return self
        # MetricSet.__init__ puts the registered metric in the instance's __dict__, before this.
        raise AttributeError(f"{self.name} is not registered: MetricSet.__init__ was not called")


@dataclass(frozen=True, slots=True)
class CounterMetric(_Metric[Counter]):
    def on(self, registry: CollectorRegistry) -> Counter:
        return Counter(self.name, self.documentation, self.labels, registry=registry)


@dataclass(frozen=True, slots=True)
class GaugeMetric(_Metric[Gauge]):
    def on(self, registry: CollectorRegistry) -> Gauge:
        return Gauge(self.name, self.documentation, self.labels, registry=registry)


@dataclass(frozen=True, slots=True)
class HistogramMetric(_Metric[Histogram]):
    buckets: tuple[float, ...] = DURATION_BUCKETS

    def on(self, registry: CollectorRegistry) -> Histogram:
        return Histogram(
            self.name, self.documentation, self.labels, buckets=self.buckets, registry=registry
        )


class MetricSet:
    """The metrics one part of the server updates, declared as class attributes; an instance
    registers them on ``registry`` (in the order declared) under the same attribute names."""

    def __init__(self, registry: CollectorRegistry) -> None:
        for cls in reversed(type(self).__mro__):
            for attribute, metric in vars(cls).items():
                if isinstance(metric, _Metric):
                    setattr(self, attribute, metric.on(registry))


class HttpMetricSet(MetricSet):
    """HTTP and the server (app/observability/metrics.py)."""

    requests_total = CounterMetric(
        "http_requests_total",
        "HTTP requests by method, matched route pattern and status.",
        ("method", "route", "status"),
    )
    request_duration = HistogramMetric(
        "http_request_duration_seconds",
        "HTTP request duration by method and matched route pattern.",
        ("method", "route"),
    )
    in_flight = GaugeMetric("http_requests_in_flight", "HTTP requests being handled.")
    rate_limited_total = CounterMetric(
        "agentsmcp_rate_limited", "Requests rejected with 429 by the rate limiter."
    )
    oidc_key_fetches_total = CounterMetric(
        "agentsmcp_oidc_key_fetches",
        "Fetches of the OpenID provider's signing keys (auth.oidc) by outcome (ok, error).",
        ("outcome",),
    )
    build_info = GaugeMetric(
        "agentsmcp_build_info", "Build of the running server (always 1).", ("version", "commit")
    )
    trace_spans_dropped_total = CounterMetric(
        "agentsmcp_trace_spans_dropped",
        "Spans not exported (tracing on), by reason: queue_full (the span queue's count or byte "
        "budget) or export_failed (the collector refused them or did not answer).",
        ("reason",),
    )


class AgentMetricSet(MetricSet):
    """Agent runs (app/core/metrics.py)."""

    runs_total = CounterMetric(
        "agentsmcp_agent_runs_total",
        "Agent runs by agent, provider and outcome (success, cancelled or the error code).",
        ("agent", "provider", "outcome"),
    )
    run_duration = HistogramMetric(
        "agentsmcp_agent_run_duration_seconds",
        "Duration of agent runs, streaming included.",
        ("agent",),
    )
    time_to_first_token = HistogramMetric(
        "agentsmcp_time_to_first_token_seconds",
        "Time from the start of a streaming run to its first text delta.",
        ("agent",),
        buckets=TTFT_BUCKETS,
    )
    tokens_total = CounterMetric(
        "agentsmcp_llm_tokens_total",
        "Tokens reported by providers, by kind (prompt or completion).",
        ("agent", "provider", "model", "kind"),
    )
    provider_requests_total = CounterMetric(
        "agentsmcp_provider_requests_total",
        "Calls to provider SDKs (each including the SDK's own retries) by outcome.",
        ("provider", "outcome"),
    )
    inflight_runs = GaugeMetric("agentsmcp_inflight_runs", "Agent runs in progress.", ("agent",))
    access_refusals_total = CounterMetric(
        "agentsmcp_access_refusals_total",
        "Agent requests refused as for an unknown agent, by front door and reason"
        " (unknown_agent, forbidden, no_token).",
        ("front_door", "reason"),
    )


class ToolMetricSet(MetricSet):
    """Tool calls of tools agents (app/tools/_metrics.py)."""

    calls_total = CounterMetric(
        "agentsmcp_tool_calls_total",
        "Tool calls of agents by tool server, tool and outcome (ok, error, timeout,"
        " invalid_arguments, rejected).",
        ("agent", "tool_server", "tool", "outcome"),
    )
    call_duration = HistogramMetric(
        "agentsmcp_tool_call_duration_seconds",
        "Duration of tool calls to tool servers.",
        ("tool_server", "tool"),
        buckets=TOOL_DURATION_BUCKETS,
    )
    run_steps = HistogramMetric(
        "agentsmcp_agent_run_steps",
        "Model calls per run of a tools agent.",
        ("agent",),
        buckets=STEP_BUCKETS,
    )
    list_refresh_failures = CounterMetric(
        "agentsmcp_tool_list_refresh_failures_total",
        "Failed tools/list refreshes by tool server.",
        ("tool_server",),
    )


class LimitMetricSet(MetricSet):
    """The limiter (app/limits/_metrics.py). Labels are the limit's name and configured agents
    only."""

    rejections = CounterMetric(
        "agentsmcp_ratelimit_rejections_total",
        "Requests refused with 429 by the named limit (agent is empty for the request limit).",
        ("limit", "agent"),
    )
    tokens_charged = CounterMetric(
        "agentsmcp_ratelimit_tokens_charged_total",
        "Tokens charged to budgets, from the providers' reported usage.",
        ("agent",),
    )
    store_errors = CounterMetric(
        "agentsmcp_ratelimit_store_errors_total",
        "Failed or timed-out calls to the shared limits store, by operation.",
        ("operation",),
    )
    fallbacks = CounterMetric(
        "agentsmcp_ratelimit_store_fallbacks_total",
        "Times the shared store became unreachable and the failure policy took over.",
    )
    degraded = CounterMetric(
        "agentsmcp_ratelimit_degraded_total",
        "Limit decisions made without the shared store, by failure policy.",
        ("policy",),
    )
    store_up = GaugeMetric(
        "agentsmcp_ratelimit_store_up",
        "1 while the limits store answers (always 1 for the in-process store), 0 while the "
        "shared store does not.",
    )


class McpMetricSet(MetricSet):
    """MCP (app/mcp/_metrics.py)."""

    requests_total = CounterMetric(
        "agentsmcp_mcp_requests_total",
        "MCP messages by JSON-RPC method and outcome (ok; error: a JSON-RPC error answer;"
        " rejected: refused before it was served, e.g. bad headers, auth, overload).",
        ("method", "outcome"),
    )
    tool_calls_total = CounterMetric(
        "agentsmcp_mcp_tool_calls_total",
        "MCP tools/call by tool and outcome (ok; tool_error: an isError result such as a"
        " provider failure, timeout or spent budget; cancelled; error: a JSON-RPC error).",
        ("tool", "outcome"),
    )
    tool_call_duration = HistogramMetric(
        "agentsmcp_mcp_tool_call_duration_seconds",
        "Duration of MCP tool calls that ran an agent.",
        ("tool",),
    )
    progress_gap = HistogramMetric(
        "agentsmcp_mcp_progress_gap_seconds",
        "Seconds between consecutive progress notifications of one MCP tool call.",
        buckets=PROGRESS_GAP_BUCKETS,
    )
    cancellations_total = CounterMetric(
        "agentsmcp_mcp_cancellations_total",
        "MCP tool calls cancelled, by reason (notification: notifications/cancelled;"
        " disconnect: the client closed the connection; relayed: notifications/cancelled"
        " received by another replica and relayed through the shared store).",
        ("reason",),
    )


class A2aMetricSet(MetricSet):
    """A2A (app/a2a_api/_metrics.py)."""

    requests_total = CounterMetric(
        "agentsmcp_a2a_requests_total",
        "A2A JSON-RPC requests by method, agent and outcome (ok; error: a JSON-RPC error"
        " answer; rejected: refused before the method ran, e.g. version, auth, overload).",
        ("method", "agent", "outcome"),
    )
    tasks_total = CounterMetric(
        "agentsmcp_a2a_tasks_total",
        "A2A tasks that ended, by agent and final state (completed, failed, canceled, rejected).",
        ("agent", "state"),
    )
    task_duration = HistogramMetric(
        "agentsmcp_a2a_task_duration_seconds",
        "Duration of A2A tasks from submitted to their final state.",
        ("agent", "state"),
    )
    cancels_relayed_total = CounterMetric(
        "agentsmcp_a2a_cancels_relayed_total",
        "A2A CancelTask requests received by another replica and relayed through the"
        " shared store to the one running the task.",
    )
