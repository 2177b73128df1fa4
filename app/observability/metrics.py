"""Core Prometheus metrics, registered on a per-application registry."""

from __future__ import annotations

import os
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.config import COMMIT_ENV, deployed_version

from .tracing import exemplar

UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "OTHER"
# Any other method is counted as OTHER, so clients cannot create label values at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Upstream LLM calls make multi-second requests normal, so the buckets reach well past 10 s.
DURATION_BUCKETS = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)


class Declare:
    """Declares metrics on one registry: the registry is named once, and a histogram's buckets
    are the request-duration ones unless it says otherwise."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)


class Metrics:
    """The server's core metrics. Label children are cached so the hot path is two dict lookups."""

    def __init__(self, registry: CollectorRegistry, *, commit: str | None = None) -> None:
        self.registry = registry
        declare = Declare(registry)
        self.requests_total = declare.counter(
            "http_requests_total",
            "HTTP requests by method, matched route pattern and status.",
            ("method", "route", "status"),
        )
        self.request_duration = declare.histogram(
            "http_request_duration_seconds",
            "HTTP request duration by method and matched route pattern.",
            ("method", "route"),
        )
        self.in_flight = declare.gauge("http_requests_in_flight", "HTTP requests being handled.")
        self.rate_limited_total = declare.counter(
            "agentsmcp_rate_limited", "Requests rejected with 429 by the rate limiter."
        )
        self.oidc_key_fetches_total = declare.counter(
            "agentsmcp_oidc_key_fetches",
            "Fetches of the OpenID provider's signing keys (auth.oidc) by outcome (ok, error).",
            ("outcome",),
        )
        self.build_info = declare.gauge(
            "agentsmcp_build_info",
            "Build of the running server (always 1).",
            ("version", "commit"),
        )
        resolved_commit = commit if commit is not None else os.environ.get(COMMIT_ENV) or "unknown"
        self.build_info.labels(version=deployed_version(), commit=resolved_commit).set(1)
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    def observe_request(self, method: str, route: str, status: int, duration: float) -> None:
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        counter_key = (method, route, status)
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = self.requests_total.labels(method, route, str(status))
            self._counters[counter_key] = counter
        counter.inc()
        histogram_key = (method, route)
        histogram = self._histograms.get(histogram_key)
        if histogram is None:
            histogram = self.request_duration.labels(method, route)
            self._histograms[histogram_key] = histogram
        histogram.observe(duration, exemplar())
