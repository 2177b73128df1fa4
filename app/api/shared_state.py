"""Typed application keys of the agent API."""

from __future__ import annotations

from aiohttp import web

from app.admission import Admission
from app.agents import AgentMetrics, AgentRunner

RUNNER_KEY = web.AppKey("agent_runner", AgentRunner)
AGENT_METRICS_KEY = web.AppKey("agent_metrics", AgentMetrics)
ADMISSION_KEY = web.AppKey("admission", Admission)
