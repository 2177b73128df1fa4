"""The agent core: it owns runs. Agents from the configuration, run over the providers with
timeouts, fallback, token budgets and metrics; admission (load shedding); the connection watch
that stops runs nobody waits for; and the run, step, event and usage types.

Front doors (``app.openai_api``, ``app.runs_api``, ``app.mcp``) translate their wire format into
a run and the run's events back; they import the core, never one another. See
docs/architecture.md.
"""

from . import run_types
from ._loop import ToolRun
from .access import AgentAccess, caller
from .admission import Admission, ServerOverloadedError
from .audit import AUDIT_LOGGER, AuditRecord
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
from .gate import admitted, agent_for, audited, refusal, visible_agents
from .keys import ADMISSION_KEY, AGENT_METRICS_KEY, RUNNER_KEY
from .metering import estimate_tokens
from .metrics import AgentMetrics
from .registry import Agent, AgentRegistry

# The run types are the core's interface: their names are listed once, in run_types.__all__.
from .run_types import *  # noqa: F403
from .runner import AgentRunner, RunStream
from .setup import agent_runner_ctx, refresh_provider_keys, setup_core
from .watch import ConnectionWatch

__all__ = [
    "ADMISSION_KEY",
    "AGENT_METRICS_KEY",
    "AUDIT_LOGGER",
    "RUNNER_KEY",
    "Admission",
    "Agent",
    "AgentAccess",
    "AgentMetrics",
    "AgentNotFoundError",
    "AgentRegistry",
    "AgentRunner",
    "AuditRecord",
    "ConnectionWatch",
    "ProviderNotConfiguredError",
    "ProviderRequestError",
    "RunStream",
    "ServerOverloadedError",
    "ToolRun",
    "UpstreamAuthError",
    "UpstreamError",
    "UpstreamRateLimitError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "admitted",
    "agent_for",
    "agent_runner_ctx",
    "audited",
    "caller",
    "estimate_tokens",
    "refresh_provider_keys",
    "refusal",
    "setup_core",
    "visible_agents",
]
__all__ += run_types.__all__
