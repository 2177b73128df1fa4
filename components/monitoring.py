"""Monitoring: ServiceMonitor, PrometheusRule alerts and a Grafana dashboard, all on real metrics.

Metric names are the server's (see app/ metrics): http_requests_total{method,route,status},
http_request_duration_seconds_bucket{method,route}, http_requests_in_flight,
agentsmcp_rate_limited_total, agentsmcp_agent_runs_total{agent,provider,outcome},
agentsmcp_llm_tokens_total{agent,provider,model,kind},
agentsmcp_provider_requests_total{provider,outcome}, agentsmcp_inflight_runs{agent},
agentsmcp_time_to_first_token_seconds_bucket{agent}, agentsmcp_agent_requests_in_flight,
agentsmcp_agent_requests_limit, agentsmcp_overload_rejected_total, agentsmcp_ratelimit_store_up,
agentsmcp_oidc_key_fetches_total{outcome};
and the MCP endpoint's: agentsmcp_mcp_requests_total{method,outcome},
agentsmcp_mcp_tool_calls_total{tool,outcome}, agentsmcp_mcp_tool_call_duration_seconds_bucket{tool},
agentsmcp_mcp_progress_gap_seconds_bucket, agentsmcp_mcp_cancellations_total{reason};
and A2A's: agentsmcp_a2a_requests_total{method,agent,outcome},
agentsmcp_a2a_tasks_total{agent,state}, agentsmcp_a2a_task_duration_seconds_bucket{agent,state},
agentsmcp_a2a_cancels_relayed_total;
and tools agents': agentsmcp_tool_calls_total{agent,tool_server,tool,outcome},
agentsmcp_tool_call_duration_seconds_bucket{tool_server,tool},
agentsmcp_agent_run_steps_bucket{agent}, agentsmcp_tool_list_refresh_failures_total{tool_server}.

Latency is alerted per route only for routes that answer without an LLM; agent routes are alerted
on time to first token (streams), since a healthy completion may take a minute.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pulumi
import pulumi_kubernetes as k8s

from components.config import AlertSettings, MonitoringSettings
from components.kube import APP_NAME, KubeComponent, child_opts

# Every metric an expression below uses; the tests check this list against the server's registry.
METRICS_USED = (
    "up",
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_requests_in_flight",
    "agentsmcp_rate_limited_total",
    "agentsmcp_agent_runs_total",
    "agentsmcp_agent_run_duration_seconds_bucket",
    "agentsmcp_llm_tokens_total",
    "agentsmcp_provider_requests_total",
    "agentsmcp_inflight_runs",
    "agentsmcp_time_to_first_token_seconds_bucket",
    "agentsmcp_agent_requests_in_flight",
    "agentsmcp_agent_requests_limit",
    "agentsmcp_overload_rejected_total",
    "agentsmcp_ratelimit_store_up",
    "agentsmcp_oidc_key_fetches_total",
    "agentsmcp_mcp_requests_total",
    "agentsmcp_mcp_tool_calls_total",
    "agentsmcp_mcp_tool_call_duration_seconds_bucket",
    "agentsmcp_mcp_progress_gap_seconds_bucket",
    "agentsmcp_mcp_cancellations_total",
    "agentsmcp_a2a_requests_total",
    "agentsmcp_a2a_tasks_total",
    "agentsmcp_a2a_task_duration_seconds_bucket",
    "agentsmcp_a2a_cancels_relayed_total",
    "agentsmcp_tool_calls_total",
    "agentsmcp_tool_call_duration_seconds_bucket",
    "agentsmcp_agent_run_steps_bucket",
    "agentsmcp_tool_list_refresh_failures_total",
)
# Alerts that wait a fixed time: the others wait monitoring.alerts.forDuration.
FIXED_FOR = {
    "AgentsMCPDown": "5m",
    "RateLimitStoreUnreachable": "2m",
    "IdentityProviderUnreachable": "5m",
}
# Provider call outcomes that are not upstream failures: success and cancelled
# (app/agents/runner.py), and "request", the provider refusing a client's invalid request
# (answered 400 provider_invalid_request: the client's mistake, not an upstream fault).
NON_FAILURE_OUTCOMES = "success|cancelled|request"
# MCP tool-call outcomes that are failures: the server's (error) and the agent's, returned to the
# model as isError (tool_error). ok and cancelled (the host gave up) are not.
MCP_TOOL_FAILURES = "error|tool_error"
# The server sends a progress notification at least this often during a tool call with a progress
# token; longer gaps let MCP hosts' idle timeouts cut the call.
MCP_PROGRESS_INTERVAL_SECONDS = 10
# Tools agents' tool-call outcomes (app.tools ToolOutcome) that are the tool server's fault.
# invalid_arguments (the model's arguments failed the tool's schema) and rejected (a tool the
# model may not call) never reach the server: they are the model's mistakes, fed back to it, and
# count in neither side of the ratio, so a model's bad day does not page the tool server's owners.
TOOL_SERVER_FAILURES = "error|timeout"
TOOL_SERVER_CALLS = "ok|error|timeout"
# Routes whose duration is an LLM's generation time (the agent front doors' POST routes).
AGENT_ROUTES = (
    "/v1/chat/completions",
    "/v1/agents/{name}/runs",
    "/v1/responses",
    "/a2a/{agent}",
)


@dataclass(frozen=True)
class MonitoringArgs:
    namespace: str
    labels: dict[str, str]
    settings: MonitoringSettings
    service_name: str
    port_name: str
    selector: dict[str, str]
    # The label kube-prometheus-stack's Prometheus selects ServiceMonitors/PrometheusRules by.
    release_label: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()


LATENCY = "http_request_duration_seconds"
TTFT = "agentsmcp_time_to_first_token_seconds"


def _selector(namespace: str, job: str, extra: str = "") -> str:
    return "{" + f'namespace="{namespace}",job="{job}"' + (f",{extra}" if extra else "") + "}"


def inflight_requests_query(namespace: str, job: str) -> str:
    """Agent requests in flight over every pod of the stack: what KEDA's Prometheus trigger
    divides by its per-pod target (metricType AverageValue) to get the replicas it wants."""
    return f"sum(agentsmcp_agent_requests_in_flight{_selector(namespace, job)})"


def _mcp_tool_error_ratio(namespace: str, job: str) -> str:
    # Calls to unknown tools (counted as tool "other") are the client's mistake, not a failing tool.
    failed = _selector(namespace, job, f'tool!="other",outcome=~"{MCP_TOOL_FAILURES}"')
    finished = _selector(namespace, job, 'tool!="other",outcome!="cancelled"')
    calls = "agentsmcp_mcp_tool_calls_total"
    return (
        f"sum by (tool) (rate({calls}{failed}[5m])) / sum by (tool) (rate({calls}{finished}[5m]))"
    )


def _a2a_task_failure_ratio(namespace: str, job: str) -> str:
    # Tasks of unknown agents (counted as agent "other") do not exist; canceled ones are the
    # client's choice.
    failed = _selector(namespace, job, 'agent!="other",state="failed"')
    ended = _selector(namespace, job, 'agent!="other",state!="canceled"')
    tasks = "agentsmcp_a2a_tasks_total"
    return f"sum by (agent) (rate({tasks}{failed}[5m])) / sum by (agent) (rate({tasks}{ended}[5m]))"


def _tool_server_error_ratio(namespace: str, job: str) -> str:
    failed = _selector(namespace, job, f'outcome=~"{TOOL_SERVER_FAILURES}"')
    reached = _selector(namespace, job, f'outcome=~"{TOOL_SERVER_CALLS}"')
    calls = "agentsmcp_tool_calls_total"
    return (
        f"sum by (tool_server) (rate({calls}{failed}[5m]))"
        f" / sum by (tool_server) (rate({calls}{reached}[5m]))"
    )


def _quantile(quantile: float, histogram: str, selector: str, by: str = "") -> str:
    buckets = f"rate({histogram}_bucket{selector}[5m])"
    return f"histogram_quantile({quantile}, sum by ({by}le) ({buckets}))"


def _p50_p99(histogram: str, selector: str, *labels: str) -> list[tuple[str, str]]:
    """Dashboard targets: the p50 and p99 of a histogram per ``labels``."""
    by = "".join(f"{label}, " for label in labels)
    legend = "/".join("{{" + label + "}}" for label in labels)
    return [
        (_quantile(q, histogram, selector, by), f"p{round(q * 100)} {legend}") for q in (0.5, 0.99)
    ]


def _error_ratio(selector: str, errors: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return (
        f"sum{group} (rate(http_requests_total{errors}[5m]))"
        f" / sum{group} (rate(http_requests_total{selector}[5m]))"
    )


# The agent routes as a PromQL regex ("{name}" written as ".+": braces are RE2 syntax).
AGENT_ROUTES_REGEX = "|".join(route.replace("{name}", ".+") for route in AGENT_ROUTES)


class _Alert(NamedTuple):
    name: str
    expr: str
    severity: str
    summary: str


def alert_rules(namespace: str, job: str, settings: MonitoringSettings) -> list[dict[str, Any]]:
    thresholds = settings.alerts
    alerts = [
        *_server_alerts(namespace, job, thresholds),
        *_dependency_alerts(namespace, job, thresholds),
        *_tool_alerts(namespace, job, thresholds),
    ]
    return [
        {
            "alert": alert.name,
            "expr": alert.expr,
            "for": FIXED_FOR.get(alert.name, thresholds.for_duration),
            "labels": {"severity": alert.severity, "service": APP_NAME},
            "annotations": {
                "summary": alert.summary,
                "description": f"{alert.summary} (namespace {namespace}).",
            },
        }
        for alert in alerts
    ]


def _server_alerts(namespace: str, job: str, alerts: AlertSettings) -> list[_Alert]:
    """The server itself: up, failing, slow, overloaded."""
    sel = _selector(namespace, job)
    errors = _selector(namespace, job, 'status=~"5.."')
    fast_routes = _selector(namespace, job, f'route!~"{AGENT_ROUTES_REGEX}"')
    return [
        _Alert(
            "AgentsMCPDown",
            f"sum(up{sel}) == 0 or absent(up{sel})",
            "critical",
            "No agentsmcp target is up",
        ),
        _Alert(
            "HighErrorRate",
            f"{_error_ratio(sel, errors, 'route')} > {alerts.error_ratio}",
            "critical",
            f"More than {alerts.error_ratio:.0%} of a route's requests fail with 5xx",
        ),
        _Alert(
            "HighLatencyP99",
            f"{_quantile(0.99, LATENCY, fast_routes, 'route, ')} > {alerts.latency_p99_seconds}",
            "warning",
            f"p99 latency of a route that calls no LLM is above {alerts.latency_p99_seconds}s",
        ),
        _Alert(
            "HighTimeToFirstToken",
            f"{_quantile(0.99, TTFT, sel, 'agent, ')} > {alerts.time_to_first_token_p99_seconds}",
            "warning",
            f"p99 time to first token of an agent is above"
            f" {alerts.time_to_first_token_p99_seconds}s",
        ),
        _Alert(
            "AgentsMCPOverloaded",
            f"{_rate_sum('agentsmcp_overload_rejected_total', sel)}"
            f" > {alerts.overload_rejected_per_second}",
            "warning",
            f"More than {alerts.overload_rejected_per_second} agent requests/s are shed with 503"
            " (serverConfig.server.max_inflight_runs reached; add pods)",
        ),
    ]


def _dependency_alerts(namespace: str, job: str, alerts: AlertSettings) -> list[_Alert]:
    """What the server depends on: LLM providers, the rate-limit store, the OpenID provider,
    the OpenTelemetry collector."""
    sel = _selector(namespace, job)
    upstream_failed = _selector(namespace, job, f'outcome!~"{NON_FAILURE_OUTCOMES}"')
    key_fetch_errors = _selector(namespace, job, 'outcome="error"')
    key_fetch_ok = _selector(namespace, job, 'outcome="ok"')
    return [
        _Alert(
            "UpstreamErrors",
            f"{_rate_sum('agentsmcp_provider_requests_total', upstream_failed, 'provider')}"
            f" / {_rate_sum('agentsmcp_provider_requests_total', sel, 'provider')}"
            f" > {alerts.upstream_error_ratio}",
            "warning",
            f"More than {alerts.upstream_error_ratio:.0%} of LLM provider calls fail",
        ),
        _Alert(
            "RateLimitSaturation",
            f"{_rate_sum('agentsmcp_rate_limited_total', sel)} > {alerts.rate_limited_per_second}",
            "warning",
            f"More than {alerts.rate_limited_per_second} requests/s are rate limited",
        ),
        # A replica that cannot reach the shared store enforces only its own limits (fail open)
        # or refuses every request (fail closed).
        _Alert(
            "RateLimitStoreUnreachable",
            f"min(agentsmcp_ratelimit_store_up{sel}) == 0",
            "critical",
            "A server cannot reach the shared rate-limit store",
        ),
        # auth.oidc: key fetches fail and none succeeded for 10m. Known keys stay in use for
        # auth.oidc.jwks_max_stale_seconds, then the provider's tokens get 503.
        _Alert(
            "IdentityProviderUnreachable",
            f"sum by (pod) (increase(agentsmcp_oidc_key_fetches_total{key_fetch_errors}[10m])) > 0"
            f" unless sum by (pod) (increase(agentsmcp_oidc_key_fetches_total{key_fetch_ok}[10m]))"
            " > 0",
            "warning",
            "A server cannot fetch the OpenID provider's signing keys",
        ),
        # Tracing on: spans the queue had no room for, or the collector refused or left
        # unanswered. Requests are not affected; their traces are incomplete or missing.
        _Alert(
            "TraceSpansDropped",
            f"sum by (reason) (increase(agentsmcp_trace_spans_dropped_total{sel}[10m])) > 0",
            "warning",
            "Spans are dropped before they reach the OpenTelemetry collector",
        ),
    ]


def _tool_alerts(namespace: str, job: str, alerts: AlertSettings) -> list[_Alert]:
    """Tools: the MCP endpoint's tool calls and the tools agents' tool servers."""
    sel = _selector(namespace, job)
    return [
        _Alert(
            "MCPToolCallErrors",
            f"{_mcp_tool_error_ratio(namespace, job)} > {alerts.mcp_tool_error_ratio}",
            "warning",
            f"More than {alerts.mcp_tool_error_ratio:.0%} of an MCP tool's calls fail",
        ),
        # Hosts cut tool calls that stay silent too long (their idle timeouts); the server's
        # progress notifications keep them alive only if they come often enough.
        _Alert(
            "MCPProgressGaps",
            f"{_quantile(0.99, 'agentsmcp_mcp_progress_gap_seconds', sel)}"
            f" > {MCP_PROGRESS_INTERVAL_SECONDS}",
            "warning",
            f"p99 gap between MCP progress notifications is above"
            f" {MCP_PROGRESS_INTERVAL_SECONDS}s; hosts may cut long tool calls",
        ),
        _Alert(
            "A2ATaskFailures",
            f"{_a2a_task_failure_ratio(namespace, job)} > {alerts.a2a_task_failure_ratio}",
            "warning",
            f"More than {alerts.a2a_task_failure_ratio:.0%} of an agent's A2A tasks fail",
        ),
        _Alert(
            "ToolServerErrors",
            f"{_tool_server_error_ratio(namespace, job)} > {alerts.tool_server_error_ratio}",
            "warning",
            f"More than {alerts.tool_server_error_ratio:.0%} of a tool server's calls fail or"
            " time out",
        ),
        # Agents keep a listing until it expires; then every run that needs it asks again, and
        # a server that cannot list its tools gives its agents none.
        _Alert(
            "ToolListRefreshFailing",
            "sum by (tool_server)"
            f" (increase(agentsmcp_tool_list_refresh_failures_total{sel}[10m])) > 0",
            "warning",
            "A tool server's tool list cannot be fetched",
        ),
    ]


# A dashboard panel: title, unit, and its targets as (PromQL expression, legend) pairs.
_Panel = tuple[str, str, list[tuple[str, str]]]


def dashboard(namespace: str, job: str) -> dict[str, Any]:
    panels = [
        *_http_panels(namespace, job),
        *_agent_panels(namespace, job),
        *_mcp_panels(namespace, job),
        *_a2a_panels(namespace, job),
        *_tool_server_panels(namespace, job),
    ]
    return {
        "title": f"agentsmcp ({namespace})",
        "uid": f"agentsmcp-{namespace}"[:40],
        "schemaVersion": 39,
        "timezone": "utc",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "tags": ["agentsmcp"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                }
            ]
        },
        "panels": [_panel(index + 1, *panel) for index, panel in enumerate(panels)],
    }


def _panel(panel_id: int, title: str, unit: str, targets: list[tuple[str, str]]) -> dict[str, Any]:
    """A time series panel; two panels a row, in the order of their ids."""
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12 * ((panel_id - 1) % 2),
            "y": 8 * ((panel_id - 1) // 2),
        },
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + index), "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(targets)
        ],
    }


def _rate_sum(metric: str, selector: str, by: str = "") -> str:
    group = f" by ({by}) " if by else ""
    return f"sum{group}(rate({metric}{selector}[5m]))"


def _http_panels(namespace: str, job: str) -> list[_Panel]:
    sel = _selector(namespace, job)
    errors = _selector(namespace, job, 'status=~"5.."')
    fast_routes = _selector(namespace, job, f'route!~"{AGENT_ROUTES_REGEX}"')
    return [
        ("Request rate", "reqps", [(_rate_sum("http_requests_total", sel, "route"), "{{route}}")]),
        (
            "Error ratio (5xx)",
            "percentunit",
            [(_error_ratio(sel, errors, "route"), "5xx {{route}}")],
        ),
        ("Latency of routes without an LLM", "s", _p50_p99(LATENCY, fast_routes, "route")),
    ]


def _agent_panels(namespace: str, job: str) -> list[_Panel]:
    sel = _selector(namespace, job)
    runs = _rate_sum("agentsmcp_agent_runs_total", sel, "agent, outcome")
    tokens = _rate_sum("agentsmcp_llm_tokens_total", sel, "provider, kind")
    in_flight = [
        (f"sum(http_requests_in_flight{sel})", "HTTP requests"),
        (f"sum by (agent) (agentsmcp_inflight_runs{sel})", "runs {{agent}}"),
        (f"sum(agentsmcp_agent_requests_in_flight{sel})", "agent requests"),
        (f"sum(agentsmcp_agent_requests_limit{sel})", "agent request limit"),
    ]
    shed = _rate_sum("agentsmcp_overload_rejected_total", sel)
    return [
        ("Agent runs", "ops", [(runs, "{{agent}} {{outcome}}")]),
        ("LLM tokens", "short", [(tokens, "{{provider}} {{kind}}")]),
        ("In flight", "short", in_flight),
        ("Time to first token (streams)", "s", _p50_p99(TTFT, sel, "agent")),
        ("Shed with 503 (overload)", "reqps", [(shed, "shed")]),
    ]


def _mcp_panels(namespace: str, job: str) -> list[_Panel]:
    sel = _selector(namespace, job)
    requests = _rate_sum("agentsmcp_mcp_requests_total", sel, "method, outcome")
    tool_calls = _rate_sum("agentsmcp_mcp_tool_calls_total", sel, "tool, outcome")
    gap = _quantile(0.99, "agentsmcp_mcp_progress_gap_seconds", sel)
    cancellations = _rate_sum("agentsmcp_mcp_cancellations_total", sel, "reason")
    return [
        ("MCP requests by method", "reqps", [(requests, "{{method}} {{outcome}}")]),
        ("MCP tool calls", "ops", [(tool_calls, "{{tool}} {{outcome}}")]),
        (
            "MCP tool-call errors",
            "percentunit",
            [(_mcp_tool_error_ratio(namespace, job), "failed {{tool}}")],
        ),
        (
            "MCP tool-call duration",
            "s",
            _p50_p99("agentsmcp_mcp_tool_call_duration_seconds", sel, "tool"),
        ),
        ("MCP progress gap (p99)", "s", [(gap, "p99 gap")]),
        ("MCP cancellations", "ops", [(cancellations, "{{reason}}")]),
    ]


def _a2a_panels(namespace: str, job: str) -> list[_Panel]:
    sel = _selector(namespace, job)
    requests = _rate_sum("agentsmcp_a2a_requests_total", sel, "method, outcome")
    tasks = _rate_sum("agentsmcp_a2a_tasks_total", sel, "agent, state")
    relayed = _rate_sum("agentsmcp_a2a_cancels_relayed_total", sel)
    return [
        ("A2A requests by method", "reqps", [(requests, "{{method}} {{outcome}}")]),
        ("A2A tasks by final state", "ops", [(tasks, "{{agent}} {{state}}")]),
        (
            "A2A task failures",
            "percentunit",
            [(_a2a_task_failure_ratio(namespace, job), "failed {{agent}}")],
        ),
        (
            "A2A task duration",
            "s",
            _p50_p99("agentsmcp_a2a_task_duration_seconds", sel, "agent", "state"),
        ),
        ("A2A cancels relayed between replicas", "ops", [(relayed, "relayed")]),
    ]


def _tool_server_panels(namespace: str, job: str) -> list[_Panel]:
    sel = _selector(namespace, job)
    calls = _rate_sum("agentsmcp_tool_calls_total", sel, "tool_server, tool, outcome")
    refresh_failures = _rate_sum("agentsmcp_tool_list_refresh_failures_total", sel, "tool_server")
    durations = _p50_p99("agentsmcp_tool_call_duration_seconds", sel, "tool_server", "tool")
    return [
        ("Tool calls (tools agents)", "ops", [(calls, "{{tool_server}}/{{tool}} {{outcome}}")]),
        (
            "Tool-server errors and timeouts",
            "percentunit",
            [(_tool_server_error_ratio(namespace, job), "{{tool_server}}")],
        ),
        ("Tool-call duration", "s", durations),
        ("Steps per tools-agent run", "short", _p50_p99("agentsmcp_agent_run_steps", sel, "agent")),
        ("Tool-list refresh failures", "ops", [(refresh_failures, "{{tool_server}}")]),
    ]


class Monitoring(KubeComponent[MonitoringArgs]):
    TYPE = "agentsmcp:index:Monitoring"

    def _build(
        self, resource_name: str, args: MonitoringArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        settings = args.settings
        crd_opts = child_opts(self, provider, args.depends_on)
        job = args.service_name
        scrape = {
            "port": args.port_name,
            "path": "/metrics",
            "interval": settings.interval,
            "scheme": "http",
        }
        _operator_object(
            f"{resource_name}-service-monitor",
            "ServiceMonitor",
            args,
            {
                "selector": {"matchLabels": args.selector},
                "namespaceSelector": {"matchNames": [args.namespace]},
                "endpoints": [scrape],
            },
            crd_opts,
        )
        if settings.alerts.enabled:
            rules = alert_rules(args.namespace, job, settings)
            _operator_object(
                f"{resource_name}-prometheus-rule",
                "PrometheusRule",
                args,
                {"groups": [{"name": "agentsmcp.rules", "rules": rules}]},
                crd_opts,
            )
        if settings.dashboard:
            k8s.core.v1.ConfigMap(
                f"{resource_name}-dashboard",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{APP_NAME}-dashboard",
                    namespace=args.namespace,
                    labels={**args.labels, "grafana_dashboard": "1"},
                ),
                data={
                    "agentsmcp.json": json.dumps(
                        dashboard(args.namespace, job), indent=2, sort_keys=True
                    )
                },
                opts=crd_opts,
            )
        return {}


def _operator_object(
    resource_name: str,
    kind: str,
    args: MonitoringArgs,
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> None:
    """A Prometheus Operator object, labelled for the Prometheus that selects by release."""
    k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.coreos.com/v1",
        kind=kind,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=APP_NAME,
            namespace=args.namespace,
            labels={**args.labels, "release": args.release_label},
        ),
        spec=spec,
        opts=opts,
    )
