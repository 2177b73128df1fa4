"""The agent API's route records: the OpenAI-compatible ``/v1/models`` and
``/v1/chat/completions``, and the native ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

from aiohttp import hdrs

from app.config import AppConfig
from app.contract.openapi import JSON, RATE_LIMIT_HEADERS, SSE
from app.contract.routes import Reply, Route

from . import handlers
from .models import (
    AgentList,
    ChatCompletion,
    ChatCompletionRequest,
    ChatCompletionStreamEvent,
    ModelList,
    Run,
    RunRequest,
    RunStreamEvent,
)

# What an agent run may answer besides the middlewares' errors: an unknown agent, a body too
# large or not JSON, the provider's failures (502, 503) and the agent's timeout.
AGENT_RUN_ERRORS = frozenset({404, 413, 415, 502, 504})
AGENT_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Agent name (GET /v1/agents).",
    "schema": {"type": "string", "examples": ["coding"]},
}


def agent_routes(config: AppConfig) -> tuple[Route, ...]:
    agent_header = {
        handlers.AGENT_HEADER: {
            "description": "The agent that answered.",
            "schema": {"type": "string"},
        }
    }
    return (
        Route(
            hdrs.METH_GET,
            "/v1/models",
            handlers.list_models,
            "get_models",
            "Agents as OpenAI models.",
            {200: Reply("Model list.", {JSON: ModelList}, RATE_LIMIT_HEADERS)},
        ),
        Route(
            hdrs.METH_POST,
            "/v1/chat/completions",
            handlers.chat_completions,
            "create_chat_completion",
            "OpenAI-compatible chat completion with an agent.",
            {
                200: Reply(
                    "A chat.completion, or SSE chunks with `stream: true`.",
                    {JSON: ChatCompletion, SSE: ChatCompletionStreamEvent},
                    agent_header,
                )
            },
            body=ChatCompletionRequest,
            errors=AGENT_RUN_ERRORS,
            agent_run=True,
            may_shed=True,
        ),
        Route(
            hdrs.METH_GET,
            "/v1/agents",
            handlers.list_agents,
            "get_agents",
            "Configured agents (never prompts or keys).",
            {200: Reply("Agent list.", {JSON: AgentList})},
        ),
        Route(
            hdrs.METH_POST,
            "/v1/agents/{name}/runs",
            handlers.create_run,
            "create_run",
            "Run an agent (native API).",
            {
                200: Reply(
                    "A completed run, or SSE run events with `stream: true`.",
                    {JSON: Run, SSE: RunStreamEvent},
                )
            },
            body=RunRequest,
            parameters=(AGENT_NAME,),
            errors=AGENT_RUN_ERRORS,
            agent_run=True,
            may_shed=True,
        ),
    )
