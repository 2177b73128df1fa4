"""Core Prometheus metrics, registered on a per-application registry."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram

from app.config import COMMIT_ENV, deployed_version
from app.observability import catalogue

from .tracing import exemplar

UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "OTHER"
# Any other method is counted as OTHER, so clients cannot create label values at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The server's core metrics. Label children are cached so the hot path is two dict lookups."""

    def __init__(self, registry: CollectorRegistry, *, commit: str | None = None) -> None:
        self.registry = registry
        self.requests_total = catalogue.HTTP_REQUESTS.on(registry)
        self.request_duration = catalogue.HTTP_REQUEST_DURATION.on(registry)
        self.in_flight = catalogue.HTTP_IN_FLIGHT.on(registry)
        self.rate_limited_total = catalogue.RATE_LIMITED.on(registry)
        self.oidc_key_fetches_total = catalogue.OIDC_KEY_FETCHES.on(registry)
        self.build_info = catalogue.BUILD_INFO.on(registry)
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
