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


class Metrics(catalogue.HttpMetricSet):
    """The server's core metrics. Label children are cached so the hot path is two dict lookups."""

    def __init__(self, registry: CollectorRegistry, *, commit: str | None = None) -> None:
        super().__init__(registry)
        self.registry = registry
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
