"""Views of the runs API: ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from aiohttp import web

from app.core import (
    ADMISSION_KEY,
    RUNNER_KEY,
    Agent,
    AgentRunner,
    ConnectionWatch,
    RunOptions,
    TokenAccount,
    ToolCallFinished,
    ToolCallStarted,
    ToolRun,
)
from app.errors import APIError
from app.http.responses import (
    AGENT_HEADER,
    ServerShuttingDownError,
    as_api_error,
    complete_run,
    json_response,
)
from app.http.sse import dumps, event, open_stream
from app.limits import account_for
from app.providers import ChatMessage
from app.request_body import read_json
from app.shared_state import SHUTDOWN_DEADLINE_KEY

from . import bodies
from .requests import parse_run


async def list_agents(request: web.Request) -> web.Response:
    runner = request.app[RUNNER_KEY]
    return json_response(bodies.agent_list(runner.registry))


async def create_run(request: web.Request) -> web.StreamResponse:
    with request.app[ADMISSION_KEY].admit():
        return await _create_run(request)


async def _create_run(request: web.Request) -> web.StreamResponse:
    runner = request.app[RUNNER_KEY]
    agent = runner.agent(request.match_info["name"])
    parsed = parse_run(await read_json(request))
    run_id = f"run_{uuid.uuid4().hex}"
    account = account_for(request)
    with ConnectionWatch(request, request.app[SHUTDOWN_DEADLINE_KEY]) as watch:
        if parsed.stream:
            if account is not None:
                # Before the stream opens, so a spent budget is a plain 429, not a failed run.
                await runner.metering.admit(account, agent, parsed.messages, RunOptions())
            return await _stream_run(
                request, runner, agent, parsed.messages, parsed.metadata, run_id, watch, account
            )
        result = await complete_run(runner, agent, parsed.messages, RunOptions(), watch, account)
    return json_response(
        bodies.run(run_id, result, result.text, parsed.metadata),
        headers={AGENT_HEADER: result.agent.name},
    )


async def _stream_run(
    request: web.Request,
    runner: AgentRunner,
    agent: Agent,
    messages: list[ChatMessage],
    metadata: dict[str, Any],
    run_id: str,
    watch: ConnectionWatch,
    account: TokenAccount | None,
) -> web.StreamResponse:
    response = await open_stream(request, {})
    await response.write(event("run.started", bodies.run_started(run_id, agent, metadata)))
    prefix = f'event: run.delta\ndata: {{"id":"{run_id}","delta":'.encode()
    output: list[str] = []
    stream = runner.stream(agent, messages, RunOptions(), account)
    failure: APIError | None = None
    try:
        async with stream:
            async for item in stream:
                if type(item) is str:
                    output.append(item)
                    await response.write(prefix + dumps(item).encode() + b"}\n\n")
                elif isinstance(item, ToolCallStarted):
                    await response.write(event("run.tool_call", bodies.tool_call(run_id, item)))
                elif isinstance(item, ToolCallFinished):
                    await response.write(event("run.tool_result", bodies.tool_result(run_id, item)))
    except asyncio.CancelledError:
        if not watch.absorb_shutdown():
            raise
        failure = ServerShuttingDownError()
    except ConnectionError:
        return response
    except Exception as exc:
        failure = as_api_error(exc)
    if failure is not None:
        steps = stream.steps if isinstance(stream, ToolRun) else None
        failed = bodies.run_failed(run_id, stream.agent, failure.body()["error"], metadata, steps)
        tail = event("run.failed", failed)
    else:
        result = stream.result
        assert result is not None
        tail = event("run.completed", bodies.run(run_id, result, "".join(output), metadata))
    with contextlib.suppress(ConnectionError):
        await response.write(tail)
        await response.write_eof()
    return response
