"""Views of the agent API: OpenAI-compatible ``/v1/models`` and ``/v1/chat/completions``, and
the native ``/v1/agents`` and ``/v1/agents/{name}/runs``."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from aiohttp import web

from app.agents import (
    Agent,
    AgentRunner,
    RunOptions,
    RunResult,
    Step,
    TokenAccount,
    ToolCallFinished,
    ToolCallStarted,
    ToolRun,
)
from app.contract import errors
from app.errors import APIError, InternalServerError
from app.limits import account_for
from app.providers import ChatMessage, ToolCall, ToolCallDelta, Usage
from app.request_body import read_json
from app.shared_state import SHUTDOWN_DEADLINE_KEY

from ._sse import DONE, ChunkRenderer, dumps, error_data, event, open_stream
from ._watch import ConnectionWatch
from .requests import ChatCompletionCall, parse_chat_completion, parse_run
from .shared_state import ADMISSION_KEY, RUNNER_KEY

AGENT_HEADER = "X-Agentsmcp-Agent"

log = structlog.get_logger("agentsmcp.api")


class ServerShuttingDownError(APIError):
    error = errors.SERVER_SHUTTING_DOWN
    default_message = "The server is shutting down; the stream was ended. Retry the request."


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(data).encode(), status=status, content_type="application/json", headers=headers
    )


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    log.exception("agent stream failed", error_type=type(exc).__name__)
    return InternalServerError()


async def list_models(request: web.Request) -> web.Response:
    runner = request.app[RUNNER_KEY]
    created = runner.registry.created
    data = [
        {"id": agent.name, "object": "model", "created": created, "owned_by": agent.provider_name}
        for agent in runner.registry
    ]
    return _json({"object": "list", "data": data})


async def list_agents(request: web.Request) -> web.Response:
    runner = request.app[RUNNER_KEY]
    return _json({"object": "list", "data": [agent.describe() for agent in runner.registry]})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    # Admission first: under overload the refusal must cost as little as possible.
    with request.app[ADMISSION_KEY].admit():
        return await _chat_completions(request)


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    parsed = parse_chat_completion(await read_json(request))
    runner = request.app[RUNNER_KEY]
    agent = runner.agent(parsed.agent)
    account = account_for(request)
    with ConnectionWatch(request, request.app[SHUTDOWN_DEADLINE_KEY]) as watch:
        if parsed.stream:
            return await _stream_chat_completion(request, runner, agent, parsed, watch, account)
        result = await _complete(runner, agent, parsed.messages, parsed.options, watch, account)
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.agent.name,
        "choices": [
            {
                "index": 0,
                "message": _assistant_message(result.text, result.tool_calls),
                "logprobs": None,
                "finish_reason": _completion_finish(result),
            }
        ],
        "usage": _usage(result.usage),
        "system_fingerprint": None,
    }
    return _json(body, headers={AGENT_HEADER: result.agent.name})


def _completion_finish(result: RunResult) -> str:
    """A tools agent's run cut by max_steps answers ``length`` on the OpenAI-compatible route:
    its own tool calls are not the client's to run, so ``tool_calls`` would be wrong."""
    return "length" if result.limit is not None else result.finish_reason


def _assistant_message(text: str, tool_calls: tuple[ToolCall, ...]) -> dict[str, Any]:
    if not tool_calls:
        return {"role": "assistant", "content": text, "refusal": None}
    return {
        "role": "assistant",
        # OpenAI's content is null when the model only called tools.
        "content": text or None,
        "refusal": None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in tool_calls
        ],
    }


async def _complete(
    runner: AgentRunner,
    agent: Agent,
    messages: list[ChatMessage],
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


async def _stream_chat_completion(
    request: web.Request,
    runner: AgentRunner,
    agent: Agent,
    parsed: ChatCompletionCall,
    watch: ConnectionWatch,
    account: TokenAccount | None,
) -> web.StreamResponse:
    stream = runner.stream(agent, parsed.messages, parsed.options, account)
    response: web.StreamResponse | None = None
    renderer: ChunkRenderer | None = None
    failure: APIError | None = None
    try:
        async with stream:
            async for item in stream:
                if renderer is None or response is None:
                    # Headers go out with the first delta, so failures before it (fallback
                    # included) are still plain JSON errors with the right status.
                    renderer = _renderer(stream.agent.name)
                    response = await open_stream(request, {AGENT_HEADER: stream.agent.name})
                    await response.write(renderer.role())
                if type(item) is str:
                    await response.write(renderer.delta(item))
                elif isinstance(item, ToolCallDelta):
                    await response.write(renderer.tool_call(item))
    except asyncio.CancelledError:
        if not watch.absorb_shutdown():
            raise
        failure = ServerShuttingDownError()
    except ConnectionError:
        # The client went away mid-stream; the upstream is already closed.
        if response is None:
            raise
        return response
    except Exception as exc:
        if response is None:
            raise
        failure = _as_api_error(exc)
    if response is None or renderer is None:
        if failure is not None:
            raise failure
        # The upstream finished without any text: still a valid stream.
        renderer = _renderer(stream.agent.name)
        response = await open_stream(request, {AGENT_HEADER: stream.agent.name})
        await response.write(renderer.role())
    if failure is not None:
        tail = error_data(failure.body())
    else:
        result = stream.result
        assert result is not None
        tail = renderer.finish(_completion_finish(result))
        if parsed.include_usage:
            tail += renderer.usage(_usage(result.usage))
    with contextlib.suppress(ConnectionError):
        await response.write(tail + DONE)
        await response.write_eof()
    return response


def _renderer(agent: str) -> ChunkRenderer:
    return ChunkRenderer(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), agent)


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
        result = await _complete(runner, agent, parsed.messages, RunOptions(), watch, account)
    return _json(
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
        "usage": _usage(result.usage),
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
            "usage": _usage(step.usage),
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
        failure = _as_api_error(exc)
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
