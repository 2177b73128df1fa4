"""Views of the runs API: ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from app.core import (
    ADMISSION_KEY,
    RUNNER_KEY,
    Agent,
    AgentRunner,
    ConnectionWatch,
    RunOptions,
    RunResult,
    Step,
    TokenAccount,
    ToolCallFinished,
    ToolCallStarted,
    ToolRun,
)
from app.core.wire import usage_json
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

from .requests import parse_run


async def list_agents(request: web.Request) -> web.Response:
    runner = request.app[RUNNER_KEY]
    return json_response(
        {"object": "list", "data": [agent.describe() for agent in runner.registry]}
    )


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
                await runner.admit(account, agent, parsed.messages, RunOptions())
            return await _stream_run(
                request, runner, agent, parsed.messages, parsed.metadata, run_id, watch, account
            )
        result = await complete_run(runner, agent, parsed.messages, RunOptions(), watch, account)
    return json_response(
        _run_body(run_id, result, result.text, parsed.metadata),
        headers={AGENT_HEADER: result.agent.name},
    )


def _run_body(
    run_id: str, result: RunResult, output: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    agent = result.agent
    body: dict[str, Any] = {
        "id": run_id,
        "object": "agent.run",
        "agent": agent.name,
        "status": "completed" if result.limit is None else "incomplete",
        "output": output,
        "finish_reason": result.finish_reason,
        "usage": usage_json(result.usage),
        "provider": agent.provider_name,
        "model": result.model,
        "duration_ms": _ms(result.duration),
        "metadata": metadata,
    }
    if result.steps:
        body["steps"] = _steps(result.steps)
    if result.limit is not None:
        body["error"] = {
            "message": result.limit.message,
            "type": "run_limit",
            "code": result.limit.code,
        }
    return body


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [
        {
            "index": step.index,
            "finish_reason": step.finish_reason,
            "model": step.model,
            "usage": usage_json(step.usage),
            "duration_ms": _ms(step.duration),
            "tool_calls": [
                {
                    "id": call.id,
                    "name": call.name,
                    "tool_server": call.tool_server,
                    "arguments": call.arguments,
                    "outcome": call.outcome,
                    "duration_ms": _ms(call.duration),
                    "error": call.error,
                    "result_chars": call.result_chars,
                    "truncated": call.truncated,
                }
                for call in step.tool_calls
            ],
        }
        for step in steps
    ]


def _tool_event(run_id: str, item: ToolCallStarted | ToolCallFinished) -> bytes:
    if isinstance(item, ToolCallStarted):
        return event(
            "run.tool_call",
            {
                "id": run_id,
                "step": item.step,
                "tool_call_id": item.id,
                "name": item.name,
                "tool_server": item.tool_server,
                "arguments": item.arguments,
            },
        )
    record = item.record
    return event(
        "run.tool_result",
        {
            "id": run_id,
            "step": item.step,
            "tool_call_id": record.id,
            "name": record.name,
            "tool_server": record.tool_server,
            "outcome": record.outcome,
            "duration_ms": _ms(record.duration),
            "output": item.output,
            "truncated": record.truncated,
        },
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
    started = {
        "id": run_id,
        "object": "agent.run",
        "agent": agent.name,
        "status": "running",
        "metadata": metadata,
    }
    await response.write(event("run.started", started))
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
                elif isinstance(item, ToolCallStarted | ToolCallFinished):
                    await response.write(_tool_event(run_id, item))
    except asyncio.CancelledError:
        if not watch.absorb_shutdown():
            raise
        failure = ServerShuttingDownError()
    except ConnectionError:
        return response
    except Exception as exc:
        failure = as_api_error(exc)
    if failure is not None:
        failed = {
            "id": run_id,
            "object": "agent.run",
            "agent": stream.agent.name,
            "status": "failed",
            "error": failure.body()["error"],
            "metadata": metadata,
        }
        if isinstance(stream, ToolRun):
            failed["steps"] = _steps(stream.steps)
        tail = event("run.failed", failed)
    else:
        result = stream.result
        assert result is not None
        tail = event("run.completed", _run_body(run_id, result, "".join(output), metadata))
    with contextlib.suppress(ConnectionError):
        await response.write(tail)
        await response.write_eof()
    return response
