"""Limiter metrics. Labels are the limit's name and configured agents only: never a subject."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.observability.metrics import Declare

from ._model import LIMIT_NAMES

NO_AGENT = ""
OPERATIONS = ("hit", "reserve", "charge", "ping")


class LimitMetrics:
    def __init__(self, registry: CollectorRegistry, agents: list[str]) -> None:
        declare = Declare(registry)
        self.rejections = declare.counter(
            "agentsmcp_ratelimit_rejections_total",
            "Requests refused with 429 by the named limit (agent is empty for the request limit).",
            ("limit", "agent"),
        )
        self.tokens_charged = declare.counter(
            "agentsmcp_ratelimit_tokens_charged_total",
            "Tokens charged to budgets, from the providers' reported usage.",
            ("agent",),
        )
        self.store_errors = declare.counter(
            "agentsmcp_ratelimit_store_errors_total",
            "Failed or timed-out calls to the shared limits store, by operation.",
            ("operation",),
        )
        self.fallbacks = declare.counter(
            "agentsmcp_ratelimit_store_fallbacks_total",
            "Times the shared store became unreachable and the failure policy took over.",
        )
        self.degraded = declare.counter(
            "agentsmcp_ratelimit_degraded_total",
            "Limit decisions made without the shared store, by failure policy.",
            ("policy",),
        )
        self.store_up = declare.gauge(
            "agentsmcp_ratelimit_store_up",
            "1 while the limits store answers (always 1 for the in-process store), 0 while the "
            "shared store does not.",
        )
        self.store_up.set(1)
        # Children bound once: the hot path does no label lookups.
        self._rejections = {
            (name, agent): self.rejections.labels(name, agent)
            for name in LIMIT_NAMES
            for agent in (NO_AGENT, *agents)
        }
        self._charged = {agent: self.tokens_charged.labels(agent) for agent in agents}
        self._errors = {operation: self.store_errors.labels(operation) for operation in OPERATIONS}

    def rejected(self, limit: str, agent: str = NO_AGENT) -> None:
        self._rejections[(limit, agent)].inc()

    def charged(self, agent: str, tokens: int) -> None:
        self._charged[agent].inc(tokens)

    def store_error(self, operation: str) -> None:
        self._errors[operation].inc()
