"""Limiter metrics. Labels are the limit's name and configured agents only: never a subject."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.observability import catalogue

from ._model import LIMIT_NAMES

NO_AGENT = ""
OPERATIONS = ("hit", "reserve", "charge", "ping")


class LimitMetrics(catalogue.LimitMetricSet):
    def __init__(self, registry: CollectorRegistry, agents: list[str]) -> None:
        super().__init__(registry)
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
