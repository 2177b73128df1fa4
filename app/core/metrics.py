"""Agent metrics, registered on the application's registry next to the core's."""

from __future__ import annotations

from app.observability import catalogue


class AgentMetrics(catalogue.AgentMetricSet):
    """Updated by the metering of model calls and by the access gate."""
