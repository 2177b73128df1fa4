"""Agent metrics, registered on the application's registry next to the core's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.observability import catalogue


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs_total = catalogue.AGENT_RUNS.on(registry)
        self.run_duration = catalogue.AGENT_RUN_DURATION.on(registry)
        self.time_to_first_token = catalogue.TIME_TO_FIRST_TOKEN.on(registry)
        self.tokens_total = catalogue.LLM_TOKENS.on(registry)
        self.provider_requests_total = catalogue.PROVIDER_REQUESTS.on(registry)
        self.inflight_runs = catalogue.INFLIGHT_RUNS.on(registry)
        self.access_refusals_total = catalogue.ACCESS_REFUSALS.on(registry)
