"""Agents from the configuration, run over the providers with timeouts, fallback and metrics."""

from ._loop import RunLimit, Step, ToolCallFinished, ToolCallRecord, ToolCallStarted, ToolRun
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
    "RunLimit",
    "RunOptions",
    "RunResult",
    "RunStream",
    "Step",
    "TokenAccount",
    "ToolCallFinished",
    "ToolCallRecord",
    "ToolCallStarted",
    "ToolRun",
    "UpstreamAuthError",
    "UpstreamError",
    "UpstreamRateLimitError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
]
