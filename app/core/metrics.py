"""Agent metrics, registered on the application's registry next to the core's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.observability.metrics import DURATION_BUCKETS

# Time to first token is usually well under the full run; finer low buckets.
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs_total = Counter(
            "agentsmcp_agent_runs_total",
            "Agent runs by agent, provider and outcome (success, cancelled or the error code).",
            ("agent", "provider", "outcome"),
            registry=registry,
        )
        self.run_duration = Histogram(
            "agentsmcp_agent_run_duration_seconds",
            "Duration of agent runs, streaming included.",
            ("agent",),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "agentsmcp_time_to_first_token_seconds",
            "Time from the start of a streaming run to its first text delta.",
            ("agent",),
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tokens_total = Counter(
            "agentsmcp_llm_tokens_total",
            "Tokens reported by providers, by kind (prompt or completion).",
            ("agent", "provider", "model", "kind"),
            registry=registry,
        )
        self.provider_requests_total = Counter(
            "agentsmcp_provider_requests_total",
            "Calls to provider SDKs (each including the SDK's own retries) by outcome.",
            ("provider", "outcome"),
            registry=registry,
        )
        self.inflight_runs = Gauge(
            "agentsmcp_inflight_runs",
            "Agent runs in progress.",
            ("agent",),
            registry=registry,
        )
        self.access_refusals_total = Counter(
            "agentsmcp_access_refusals_total",
            "Agent requests refused as for an unknown agent, by front door and reason"
            " (unknown_agent, forbidden, no_token).",
            ("front_door", "reason"),
            registry=registry,
        )
