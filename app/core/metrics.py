"""Agent metrics, registered on the application's registry next to the core's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.observability.metrics import Declare

# Time to first token is usually well under the full run; finer low buckets.
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        declare = Declare(registry)
        self.runs_total = declare.counter(
            "agentsmcp_agent_runs_total",
            "Agent runs by agent, provider and outcome (success, cancelled or the error code).",
            ("agent", "provider", "outcome"),
        )
        self.run_duration = declare.histogram(
            "agentsmcp_agent_run_duration_seconds",
            "Duration of agent runs, streaming included.",
            ("agent",),
        )
        self.time_to_first_token = declare.histogram(
            "agentsmcp_time_to_first_token_seconds",
            "Time from the start of a streaming run to its first text delta.",
            ("agent",),
            buckets=TTFT_BUCKETS,
        )
        self.tokens_total = declare.counter(
            "agentsmcp_llm_tokens_total",
            "Tokens reported by providers, by kind (prompt or completion).",
            ("agent", "provider", "model", "kind"),
        )
        self.provider_requests_total = declare.counter(
            "agentsmcp_provider_requests_total",
            "Calls to provider SDKs (each including the SDK's own retries) by outcome.",
            ("provider", "outcome"),
        )
        self.inflight_runs = declare.gauge(
            "agentsmcp_inflight_runs",
            "Agent runs in progress.",
            ("agent",),
        )
        self.access_refusals_total = declare.counter(
            "agentsmcp_access_refusals_total",
            "Agent requests refused as for an unknown agent, by front door and reason"
            " (unknown_agent, forbidden, no_token).",
            ("front_door", "reason"),
        )
