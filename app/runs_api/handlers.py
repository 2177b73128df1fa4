"""Views of the runs API: ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from app.app_keys import SHUTDOWN_DEADLINE_KEY
from app.core import (
    RUNNER_KEY,
    Agent,
    AgentRunner,
    AuditRecord,
    ConnectionWatch,
    RunOptions,
    TokenAccount,
    ToolCallFinished,
    ToolCallStarted,
    ToolRun,
    agent_for,
    audited,
    visible_agents,
)
from app.core.gate import RUNS
from app.errors import APIError
from app.http.admission import admission_first
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

from . import bodies
from .requests import parse_run


async def list_agents(request: web.Request) -> web.Response:
    return json_response(bodies.agent_list(visible_agents(request)))


@admission_first
async def create_run(request: web.Request) -> web.StreamResponse:
    runner = request.app[RUNNER_KEY]
    name = request.match_info["name"]
    with audited(request, RUNS, name) as audit:
        agent = agent_for(request, name)
        parsed = parse_run(await read_json(request))
        run_id = f"run_{uuid.uuid4().hex}"
        account = account_for(request)
        with ConnectionWatch(request, request.app[SHUTDOWN_DEADLINE_KEY]) as watch:
            if parsed.stream:
                if account is not None:
                    # Before the stream opens, so a spent budget is a plain 429, not a failed run.
                    await runner.metering.admit(account, agent, parsed.messages, RunOptions())
                run = _StreamedRun(run_id, parsed.messages, parsed.metadata, audit)
                return await _stream_run(request, runner, agent, run, watch, account)
            result = await complete_run(
                runner, agent, parsed.messages, RunOptions(), watch, account
            )
        audit.finished(result)
    return json_response(
        bodies.run(run_id, result, result.text, parsed.metadata),
        headers={AGENT_HEADER: result.agent.name},
    )


@dataclass(frozen=True, slots=True)
class _StreamedRun:
    """What a streamed run needs besides its agent: its id, input, metadata and audit record."""

    run_id: str
    messages: list[ChatMessage]
    metadata: dict[str, Any]
    audit: AuditRecord


async def _stream_run(
    request: web.Request,
    runner: AgentRunner,
    agent: Agent,
    run: _StreamedRun,
    watch: ConnectionWatch,
    account: TokenAccount | None,
) -> web.StreamResponse:
    run_id, messages, metadata = run.run_id, run.messages, run.metadata
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
        run.audit.failed("client_disconnected")
        return response
    except Exception as exc:
        failure = as_api_error(exc)
    if failure is not None:
        run.audit.failed(failure)
        steps = stream.steps if isinstance(stream, ToolRun) else None
        failed = bodies.run_failed(run_id, stream.agent, failure.body()["error"], metadata, steps)
        tail = event("run.failed", failed)
    else:
        result = stream.result
        assert result is not None
        run.audit.finished(result)
        tail = event("run.completed", bodies.run(run_id, result, "".join(output), metadata))
    with contextlib.suppress(ConnectionError):
        await response.write(tail)
        await response.write_eof()
    return response
