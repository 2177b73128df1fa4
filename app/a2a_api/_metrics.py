"""A2A metrics (names fixed: alerts and dashboards use them). Label values are bounded: the
methods below or ``other``, the configured agents or ``other``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

from app.observability.metrics import DURATION_BUCKETS

OTHER: Final = "other"
METHODS: Final = frozenset(
    {
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "ListTasks",
        "CancelTask",
        "SubscribeToTask",
        "GetExtendedAgentCard",
        "message/send",
        "message/stream",
        "tasks/get",
        "tasks/cancel",
        "tasks/resubscribe",
    }
)

# ok; error: a JSON-RPC error answer (a bad request, an unknown task); rejected: refused before
# the method ran (version, auth, limits, overload).
RequestOutcome = Literal["ok", "error", "rejected"]


class A2aMetrics:
    def __init__(self, registry: CollectorRegistry, agents: Iterable[str]) -> None:
        self._agents = frozenset(agents)
        self.requests_total = Counter(
            "agentsmcp_a2a_requests_total",
            "A2A JSON-RPC requests by method, agent and outcome (ok; error: a JSON-RPC error"
            " answer; rejected: refused before the method ran, e.g. version, auth, overload).",
            ("method", "agent", "outcome"),
            registry=registry,
        )
        self.tasks_total = Counter(
            "agentsmcp_a2a_tasks_total",
            "A2A tasks that ended, by agent and final state (completed, failed, canceled,"
            " rejected).",
            ("agent", "state"),
            registry=registry,
        )
        self.task_duration = Histogram(
            "agentsmcp_a2a_task_duration_seconds",
            "Duration of A2A tasks from submitted to their final state.",
            ("agent", "state"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.cancels_relayed_total = Counter(
            "agentsmcp_a2a_cancels_relayed_total",
            "A2A CancelTask requests received by another replica and relayed through the"
            " shared store to the one running the task.",
            registry=registry,
        )

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
