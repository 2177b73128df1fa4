"""The runs front door's route records: ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

from aiohttp import hdrs

from app.config import AppConfig
from app.contract.openapi import JSON, SSE, path_parameter
from app.contract.routes import Reply, Route, agent_run_route

from . import handlers
from .models import AgentList, Run, RunRequest, RunStreamEvent

AGENT_NAME = path_parameter("name", "Agent name (GET /v1/agents).", examples=["coding"])


def runs_routes(config: AppConfig) -> tuple[Route, ...]:
    return (
        Route(
            hdrs.METH_GET,
            "/v1/agents",
            handlers.list_agents,
            "get_agents",
            "Configured agents (never prompts or keys).",
            {200: Reply("Agent list.", {JSON: AgentList})},
        ),
        agent_run_route(
            "/v1/agents/{name}/runs",
            handlers.create_run,
            "create_run",
            "Run an agent (native API).",
            Reply(
                "A completed run, or SSE run events with `stream: true`.",
                {JSON: Run, SSE: RunStreamEvent},
            ),
            RunRequest,
            (AGENT_NAME,),
        ),
    )
