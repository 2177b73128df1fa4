"""Views of the Responses API: ``POST /v1/responses``, ``GET`` and ``DELETE
/v1/responses/{id}``. A response is one run of the agent, admitted, budgeted and watched exactly
as a chat completion is."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.app_keys import SUBJECT_KEY
from app.contract import errors
from app.core import RunResult
from app.core.gate import RESPONSES
from app.errors import APIError, NotFoundError
from app.http.admission import admission_first
from app.http.agent_run import AgentRun, audited_agent, watched_run
from app.http.responses import (
    AGENT_HEADER,
    as_api_error,
    end_stream,
    json_response,
    relay_stream,
)
from app.http.wire import InvalidFieldError, quoted
from app.providers import ChatMessage
from app.request_body import read_json

from ._events import ResponseEvents
from ._output import ResponseDraft, outcome, output_items, output_messages
from ._store import RESPONSE_STORE_KEY, StoredResponse
from .requests import ResponsesCall, check_conversation, parse_response_create


class ResponseNotFoundError(NotFoundError):
    error = errors.RESPONSE_NOT_FOUND


class PreviousResponseNotFoundError(InvalidFieldError):
    error = errors.PREVIOUS_RESPONSE_NOT_FOUND


def _subject(request: web.Request) -> str:
    return request.get(SUBJECT_KEY) or ""


@admission_first
async def create_response(request: web.Request) -> web.StreamResponse:
    call = parse_response_create(await read_json(request))
    with audited_agent(request, RESPONSES, call.request.model) as (audit, agent):
        conversation = [*await _previous(request, call), *call.input]
        check_conversation(conversation)
        messages = _with_instructions(call, conversation)
        with watched_run(request, audit, agent) as run:
            if call.request.stream:
                return await _stream_response(run, call, messages, conversation)
            result = await run.complete(messages, call.options)
    draft = ResponseDraft(call, result.agent.name)
    status, incomplete = outcome(result)
    output = output_items(result.text, result.tool_calls, status)
    body = draft.body(status, output, result.usage, incomplete=incomplete)
    await _keep(request, call, body, conversation)
    return json_response(body, headers={AGENT_HEADER: result.agent.name})


async def _previous(request: web.Request, call: ResponsesCall) -> list[ChatMessage]:
    response_id = call.request.previous_response_id
    if response_id is None:
        return []
    record = await request.app[RESPONSE_STORE_KEY].load(_subject(request), response_id)
    if record is None:
        raise PreviousResponseNotFoundError(
            "previous_response_id", f"no response {quoted(response_id)} found"
        )
    return record.conversation


def _with_instructions(call: ResponsesCall, conversation: list[ChatMessage]) -> list[ChatMessage]:
    instructions = call.request.instructions
    return [ChatMessage("system", instructions), *conversation] if instructions else conversation


async def _keep(
    request: web.Request,
    call: ResponsesCall,
    body: dict[str, Any],
    conversation: list[ChatMessage],
) -> None:
    if call.store and body["status"] in ("completed", "incomplete"):
        record = StoredResponse(body, [*conversation, *output_messages(body["output"])])
        await request.app[RESPONSE_STORE_KEY].save(_subject(request), record)


async def get_response(request: web.Request) -> web.Response:
    record = await request.app[RESPONSE_STORE_KEY].load(_subject(request), _response_id(request))
    if record is None:
        raise _not_found(request)
    return json_response(record.response)


async def delete_response(request: web.Request) -> web.Response:
    response_id = _response_id(request)
    if not await request.app[RESPONSE_STORE_KEY].delete(_subject(request), response_id):
        raise _not_found(request)
    return json_response({"id": response_id, "object": "response", "deleted": True})


def _response_id(request: web.Request) -> str:
    return request.match_info["response_id"]


def _not_found(request: web.Request) -> ResponseNotFoundError:
    return ResponseNotFoundError(f"No response with id {quoted(_response_id(request))} found.")


async def _stream_response(
    run: AgentRun,
    call: ResponsesCall,
    messages: list[ChatMessage],
    conversation: list[ChatMessage],
) -> web.StreamResponse:
    request, audit = run.request, run.audit
    stream = run.stream(messages, call.options)
    relayed = await relay_stream(
        request, stream, run.watch, lambda name: ResponseEvents(ResponseDraft(call, name))
    )
    if relayed.client_gone:
        audit.failed("client_disconnected")
        return relayed.response
    if relayed.failure is not None or stream.result is None:
        audit.failed(relayed.failure or "no_result")
    else:
        audit.finished(stream.result)
    tail = await _stream_tail(
        request, call, relayed.renderer, stream.result, relayed.failure, conversation
    )
    await end_stream(relayed.response, tail)
    return relayed.response


async def _stream_tail(
    request: web.Request,
    call: ResponsesCall,
    events: ResponseEvents,
    result: RunResult | None,
    failure: APIError | None,
    conversation: list[ChatMessage],
) -> bytes:
    if failure is not None or result is None:
        return events.fail(_failed(failure or as_api_error(RuntimeError("no result"))))
    status, incomplete = outcome(result)
    tail = events.close("completed" if status == "completed" else "incomplete")
    body = events.draft.body(status, events.output, result.usage, incomplete=incomplete)
    await _keep(request, call, body, conversation)
    return tail + events.end(body)


def _failed(failure: APIError) -> dict[str, str]:
    """A response's ``error``: OpenAI's codes are a closed set, so the server's own code goes
    into the message."""
    detail = failure.body()["error"]
    code = "rate_limit_exceeded" if failure.status == 429 or "rate_limit" in failure.code else None
    return {
        "code": code or "server_error",
        "message": f"{detail['message']} ({detail['code']})",
    }
