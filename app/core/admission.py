"""Load shedding: a limit on agent runs in flight per process, with a fast 503 beyond it.

An aiohttp process has one event loop for everything, probes included. Queueing every request
under overload makes all of them slow, liveness probes time out and the kubelet restarts pods
that were merely busy. Past ``server.max_inflight_runs`` a new agent request is refused at once
with 503 ``server_overloaded`` and ``Retry-After``, so admitted runs finish and ``/health/live``
keeps answering; a load balancer or client retries elsewhere, and the in-flight gauge tells the
autoscaler to add pods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from app.contract import errors
from app.errors import ServiceUnavailableError

RETRY_AFTER_SECONDS: Final = 1


class ServerOverloadedError(ServiceUnavailableError):
    error = errors.SERVER_OVERLOADED
    default_message = (
        "The server is at its limit of agent runs in flight; retry after the Retry-After delay."
    )


class Admission:
    """Counts agent runs in flight; :meth:`admit` refuses one past ``limit``."""

    def __init__(self, limit: int, registry: CollectorRegistry) -> None:
        self.limit = limit
        self.in_flight = 0
        self._gauge = Gauge(
            "agentsmcp_agent_requests_in_flight",
            "Agent requests (chat completions and runs, streams included) in flight in this"
            " process; scale out before it reaches agentsmcp_agent_requests_limit.",
            registry=registry,
        )
        Gauge(
            "agentsmcp_agent_requests_limit",
            "server.max_inflight_runs: agent requests one process admits at once.",
            registry=registry,
        ).set(limit)
        self._rejected = Counter(
            "agentsmcp_overload_rejected",
            "Agent requests refused with 503 server_overloaded.",
            registry=registry,
        )

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            self._rejected.inc()
            raise ServerOverloadedError(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.in_flight += 1
        self._gauge.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._gauge.dec()
