"""Views of the OpenAI-compatible API: ``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

import time

from aiohttp import web

from app.app_keys import SHUTDOWN_DEADLINE_KEY
from app.core import (
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
from app.http.admission import admission_first
from app.http.responses import (
    AGENT_HEADER,
    complete_run,
    end_stream,
    json_response,
    relay_stream,
)
from app.limits import account_for
from app.request_body import read_json

from . import bodies
from ._chunks import DONE, ChunkRenderer, error_data
from .requests import ChatCompletionCall, parse_chat_completion


async def list_models(request: web.Request) -> web.Response:
    registry = request.app[RUNNER_KEY].registry
    return json_response(bodies.model_list(registry, visible_agents(request)))


@admission_first
async def chat_completions(request: web.Request) -> web.StreamResponse:
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
    relayed = await relay_stream(request, stream, watch, _renderer)
    if relayed.client_gone:
        audit.failed("client_disconnected")
        return relayed.response
    if relayed.failure is not None:
        audit.failed(relayed.failure)
        tail = error_data(relayed.failure.body())
    else:
        result = stream.result
        assert result is not None
        audit.finished(result)
        tail = relayed.renderer.finish(bodies.completion_finish(result))
        if parsed.include_usage:
            tail += relayed.renderer.usage(usage_json(result.usage))
    await end_stream(relayed.response, tail + DONE)
    return relayed.response


def _renderer(agent: str) -> ChunkRenderer:
    return ChunkRenderer(bodies.completion_id(), int(time.time()), agent)
