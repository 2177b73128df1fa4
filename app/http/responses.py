"""What the HTTP front doors answer the same way: JSON bodies, the answering agent's header, a run
to completion, and a stream ended by shutdown or a bug."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog
from aiohttp import web

from app.contract import errors
from app.core import Agent, AgentRunner, ConnectionWatch, RunOptions, RunResult, TokenAccount
from app.errors import APIError, InternalServerError
from app.providers import ChatMessage

from .sse import dumps

# Names the agent that answered (a fallback, when it took over).
AGENT_HEADER = "X-Agentsmcp-Agent"
# The header as the OpenAPI document describes it.
ANSWERED_BY = {
    AGENT_HEADER: {"description": "The agent that answered.", "schema": {"type": "string"}}
}

log = structlog.get_logger("agentsmcp.api")


class ServerShuttingDownError(APIError):
    error = errors.SERVER_SHUTTING_DOWN


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(data).encode(), status=status, content_type="application/json", headers=headers
    )


def as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    log.exception("agent stream failed", error_type=type(exc).__name__)
    return InternalServerError()


async def complete_run(
    runner: AgentRunner,
    agent: Agent,
    messages: Sequence[ChatMessage],
    options: RunOptions,
    watch: ConnectionWatch,
    account: TokenAccount | None,
) -> RunResult:
    try:
        return await runner.complete(agent, messages, options, account)
    except asyncio.CancelledError:
        if watch.absorb_shutdown():
            raise ServerShuttingDownError() from None
        raise
