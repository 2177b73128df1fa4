"""Views of the OpenAI-compatible API: ``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from app.core import (
    ADMISSION_KEY,
    RUNNER_KEY,
    Agent,
    AgentRunner,
    AuditRecord,
    ConnectionWatch,
    TokenAccount,
    agent_for,
    audited,
    visible_agents,
)
from app.core.gate import OPENAI
from app.core.wire import usage_json
from app.errors import APIError
from app.http.responses import (
    AGENT_HEADER,
    ServerShuttingDownError,
    as_api_error,
    complete_run,
    json_response,
)
from app.http.sse import open_stream
from app.limits import account_for
from app.providers import ToolCallDelta
from app.request_body import read_json
from app.shared_state import SHUTDOWN_DEADLINE_KEY

from . import bodies
from ._chunks import DONE, ChunkRenderer, error_data
from .requests import ChatCompletionCall, parse_chat_completion


async def list_models(request: web.Request) -> web.Response:
    registry = request.app[RUNNER_KEY].registry
    return json_response(bodies.model_list(registry, visible_agents(request)))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    # Admission first: under overload the refusal must cost as little as possible.
    with request.app[ADMISSION_KEY].admit():
        return await _chat_completions(request)


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    parsed = parse_chat_completion(await read_json(request))
    runner = request.app[RUNNER_KEY]
    with audited(request, OPENAI, parsed.agent) as audit:
        agent = agent_for(request, parsed.agent)
        account = account_for(request)
        with ConnectionWatch(request, request.app[SHUTDOWN_DEADLINE_KEY]) as watch:
            if parsed.stream:
                return await _stream_chat_completion(
                    request, runner, agent, parsed, watch, account, audit
                )
            result = await complete_run(
                runner, agent, parsed.messages, parsed.options, watch, account
            )
        audit.finished(result)
    return json_response(bodies.chat_completion(result), headers={AGENT_HEADER: result.agent.name})


async def _stream_chat_completion(
    request: web.Request,
    runner: AgentRunner,
    agent: Agent,
    parsed: ChatCompletionCall,
    watch: ConnectionWatch,
    account: TokenAccount | None,
    audit: AuditRecord,
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
        audit.failed("client_disconnected")
        return response
    except Exception as exc:
        if response is None:
            raise
        failure = as_api_error(exc)
    if response is None or renderer is None:
        if failure is not None:
            raise failure
        # The upstream finished without any text: still a valid stream.
        renderer = _renderer(stream.agent.name)
        response = await open_stream(request, {AGENT_HEADER: stream.agent.name})
        await response.write(renderer.role())
    if failure is not None:
        audit.failed(failure)
        tail = error_data(failure.body())
    else:
        result = stream.result
        assert result is not None
        audit.finished(result)
        tail = renderer.finish(bodies.completion_finish(result))
        if parsed.include_usage:
            tail += renderer.usage(usage_json(result.usage))
    with contextlib.suppress(ConnectionError):
        await response.write(tail + DONE)
        await response.write_eof()
    return response


def _renderer(agent: str) -> ChunkRenderer:
    return ChunkRenderer(bodies.completion_id(), int(time.time()), agent)
