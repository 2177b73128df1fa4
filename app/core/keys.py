"""Typed application keys of the agent core: every front door reaches the runner and admission
through them."""

from __future__ import annotations

from aiohttp import web

from .admission import Admission
from .metrics import AgentMetrics
from .runner import AgentRunner

RUNNER_KEY = web.AppKey("agent_runner", AgentRunner)
AGENT_METRICS_KEY = web.AppKey("agent_metrics", AgentMetrics)
ADMISSION_KEY = web.AppKey("admission", Admission)
