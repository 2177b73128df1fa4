"""Agents from the configuration, run over the providers with timeouts, fallback and metrics."""

from .errors import (
    AgentNotFoundError,
    ProviderNotConfiguredError,
    ProviderRequestError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from .metrics import AgentMetrics
from .registry import Agent, AgentRegistry
from .runner import AgentRunner, RunOptions, RunResult, RunStream, TokenAccount

__all__ = [
    "Agent",
    "AgentMetrics",
    "AgentNotFoundError",
    "AgentRegistry",
    "AgentRunner",
    "ProviderNotConfiguredError",
    "ProviderRequestError",
    "RunOptions",
    "RunResult",
    "RunStream",
    "TokenAccount",
    "UpstreamAuthError",
    "UpstreamError",
    "UpstreamRateLimitError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
]
