"""A2A metrics (names fixed: alerts and dashboards use them). Label values are bounded: A2A's
methods (both versions' names) or ``other``, the configured agents or ``other``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from prometheus_client import CollectorRegistry

from app.observability import catalogue

from . import _wire as wire

OTHER: Final = "other"
METHODS: Final = frozenset(name for method in wire.METHODS for name in method.names().values())

# ok; error: a JSON-RPC error answer (a bad request, an unknown task); rejected: refused before
# the method ran (version, auth, limits, overload).
RequestOutcome = Literal["ok", "error", "rejected"]


class A2aMetrics(catalogue.A2aMetricSet):
    def __init__(self, registry: CollectorRegistry, agents: Iterable[str]) -> None:
        super().__init__(registry)
        self._agents = frozenset(agents)

    def request(self, method: str | None, agent: str | None, outcome: RequestOutcome) -> None:
        self.requests_total.labels(
            method if method in METHODS else OTHER,
            agent if agent in self._agents else OTHER,
            outcome,
        ).inc()

    def task_ended(self, agent: str, state: str, seconds: float) -> None:
        label = agent if agent in self._agents else OTHER
        self.tasks_total.labels(label, state).inc()
        self.task_duration.labels(label, state).observe(seconds)
