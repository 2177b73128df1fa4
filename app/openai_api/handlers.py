"""Views of the OpenAI-compatible API: ``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

import time

from aiohttp import web

from app.core import RUNNER_KEY, visible_agents
from app.core.gate import OPENAI
from app.core.wire import usage_json
from app.http.admission import admission_first
from app.http.agent_run import AgentRun, audited_agent, watched_run
from app.http.responses import AGENT_HEADER, end_stream, json_response, relay_stream
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
    with (
        audited_agent(request, OPENAI, parsed.agent) as (audit, agent),
        watched_run(request, audit, agent) as run,
    ):
        if parsed.stream:
            return await _stream_chat_completion(run, parsed)
        result = await run.complete(parsed.messages, parsed.options)
    return json_response(bodies.chat_completion(result), headers={AGENT_HEADER: result.agent.name})


async def _stream_chat_completion(run: AgentRun, parsed: ChatCompletionCall) -> web.StreamResponse:
    audit = run.audit
    stream = run.stream(parsed.messages, parsed.options)
    relayed = await relay_stream(run.request, stream, run.watch, _renderer)
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
