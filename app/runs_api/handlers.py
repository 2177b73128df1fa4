"""Views of the runs API: ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from app.core import RunOptions, ToolCallFinished, ToolCallStarted, ToolRun, visible_agents
from app.core.gate import RUNS
from app.errors import APIError
from app.http.admission import admission_first
from app.http.agent_run import AgentRun, audited_agent, watched_run
from app.http.responses import AGENT_HEADER, ServerShuttingDownError, as_api_error, json_response
from app.http.sse import dumps, event, open_stream
from app.providers import ChatMessage
from app.request_body import read_json

from . import bodies
from .requests import parse_run


async def list_agents(request: web.Request) -> web.Response:
    return json_response(bodies.agent_list(visible_agents(request)))


@admission_first
async def create_run(request: web.Request) -> web.StreamResponse:
    with audited_agent(request, RUNS, request.match_info["name"]) as (audit, agent):
        parsed = parse_run(await read_json(request))
        run_id = f"run_{uuid.uuid4().hex}"
        with watched_run(request, audit, agent) as run:
            if parsed.stream:
                if run.account is not None:
                    # Before the stream opens, so a spent budget is a plain 429, not a failed run.
                    await run.runner.metering.admit(
                        run.account, agent, parsed.messages, RunOptions()
                    )
                streamed = _StreamedRun(run_id, parsed.messages, parsed.metadata)
                return await _stream_run(run, streamed)
            result = await run.complete(parsed.messages, RunOptions())
    return json_response(
        bodies.run(run_id, result, result.text, parsed.metadata),
        headers={AGENT_HEADER: result.agent.name},
    )


@dataclass(frozen=True, slots=True)
class _StreamedRun:
    """What a streamed run needs besides its agent: its id, input and metadata."""

    run_id: str
    messages: list[ChatMessage]
    metadata: dict[str, Any]


async def _stream_run(run: AgentRun, streamed: _StreamedRun) -> web.StreamResponse:
    run_id, metadata = streamed.run_id, streamed.metadata
    response = await open_stream(run.request, {})
    await response.write(event("run.started", bodies.run_started(run_id, run.agent, metadata)))
    prefix = f'event: run.delta\ndata: {{"id":"{run_id}","delta":'.encode()
    output: list[str] = []
    stream = run.stream(streamed.messages, RunOptions())
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
        if not run.watch.absorb_shutdown():
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
