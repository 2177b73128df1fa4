"""``POST /a2a/<agent>``: A2A's JSON-RPC binding, 1.0 and 0.3 on one endpoint. The method name
chooses the wire version (1.0's are PascalCase, 0.3's are paths), so a 0.3 client that sends no
``A2A-Version`` header is served as it expects; a version this server does not speak is -32009.
Streams are SSE: the task first, then its status and artifact updates, ending on its final state.

Access (docs/security.md): a caller that may not use the agent is answered as for an unknown
agent, whatever the method; the cards (public, read without a token) show only the agents
without rules, so a caller finds a guarded agent it may use through the authenticated extended
card (``GetExtendedAgentCard``; 0.3: ``agent/getAuthenticatedExtendedCard``). A message
(SendMessage, SendStreamingMessage) is one audited invocation: its audit event is logged when
its task ends, with the task's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from app.app_keys import SUBJECT_KEY
from app.config import AppConfig
from app.core import Agent, AuditRecord, admitted, agent_for, visible_agents
from app.core.gate import A2A
from app.errors import APIError
from app.http.jsonrpc import read_message
from app.http.sse import open_stream
from app.limits import account_for
from app.limits.relay import StoreRelay

from ._cards import Cards, card_response
from ._metrics import A2aMetrics
from ._requests import list_params, send_params, task_params
from ._tasks import STOP_SECONDS, TaskService, task_key
from ._wire import (
    CANCEL_TASK,
    GET_EXTENDED_CARD,
    GET_TASK,
    INVALID_REQUEST,
    LIST_TASKS,
    METHOD_NOT_FOUND,
    SEND_MESSAGE,
    SEND_STREAMING_MESSAGE,
    SERVER_ERROR,
    SUBSCRIBE_TO_TASK,
    SUPPORTED_VERSIONS,
    TASK_NOT_CANCELABLE,
    TASK_NOT_FOUND,
    UNSUPPORTED_OPERATION,
    V03,
    V1,
    VERSION_HEADER,
    VERSION_NOT_SUPPORTED,
    A2aError,
    Method,
    Renderer,
    Task,
    Turn,
    dumps,
    error_message,
    new_id,
    result_message,
)

log = structlog.get_logger("agentsmcp.a2a")

Call = Callable[["A2aCall"], Awaitable[web.StreamResponse]]
RENDERERS: Final = {V1: Renderer(V1), V03: Renderer(V03)}


@dataclass(frozen=True, slots=True)
class A2aCall:
    """One JSON-RPC request to one agent, answered in the wire version of ``render``."""

    request: web.Request
    agent: Agent
    # Logged by the task a message starts; the other methods are no invocation.
    audit: AuditRecord
    id: Any
    params: Any
    render: Renderer

    @property
    def subject(self) -> str:
        return self.request.get(SUBJECT_KEY) or ""


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(payload), status=status, content_type="application/json")


def _version(request: web.Request) -> str | None:
    """None: the header names a version this server does not speak."""
    header = request.headers.get(VERSION_HEADER)
    if header is None:
        return V03
    for version in SUPPORTED_VERSIONS:
        if header.strip() == version or header.strip().startswith(version + "."):
            return version
    return None


class A2aEndpoint:
    def __init__(self, config: AppConfig, registry: CollectorRegistry) -> None:
        self.cards = Cards(config)
        self.metrics = A2aMetrics(registry, config.agents)
        # Set while the app runs (the cleanup context in __init__).
        self.service: TaskService | None = None
        self.relay: StoreRelay | None = None
        handlers: dict[Method, Call] = {
            SEND_MESSAGE: self._send,
            SEND_STREAMING_MESSAGE: self._stream,
            GET_TASK: self._get,
            LIST_TASKS: self._list,
            CANCEL_TASK: self._cancel,
            SUBSCRIBE_TO_TASK: self._subscribe,
            GET_EXTENDED_CARD: self._extended_card,
        }
        # Method name -> its handler and the wire version the name belongs to.
        self._methods: dict[str, tuple[Call, str]] = {
            name: (handler, version)
            for method, handler in handlers.items()
            for version, name in method.names().items()
        }

    # Cards.

    async def server_card(self, request: web.Request) -> web.Response:
        card = self.cards.server(self.cards.base_url(request), _visible(request))
        return card_response(request, card)

    async def agent_card(self, request: web.Request) -> web.Response:
        name = _agent_name(request)
        return card_response(request, self.cards.agent(self.cards.base_url(request), name))

    async def legacy_server_card(self, request: web.Request) -> web.Response:
        card = self.cards.legacy(self.cards.base_url(request), None, _visible(request))
        return card_response(request, card)

    async def legacy_agent_card(self, request: web.Request) -> web.Response:
        name = _agent_name(request)
        card = self.cards.legacy(self.cards.base_url(request), name, (name,))
        return card_response(request, card)

    # Errors.

    def render_error(self, exc: APIError) -> web.Response:
        """An error raised before the view (auth, rate limit, body size) as a JSON-RPC error;
        ``data`` keeps the API's type and code."""
        self.metrics.request(None, None, "error" if exc.status >= 500 else "rejected")
        error = A2aError(SERVER_ERROR, exc.message, data={"type": exc.type, "code": exc.code})
        response = json_response(error_message(None, error), exc.status)
        response.headers.update(exc.headers)
        return response

    # JSON-RPC.

    async def post(self, request: web.Request) -> web.StreamResponse:
        method: str | None = None
        request_id: Any = None
        try:
            agent, audit = admitted(request, A2A, request.match_info["agent"])
            document = await read_message(request, A2aError)
            request_id, method, params = _envelope(document)
            version = _version(request)
            if version is None:
                raise A2aError(
                    VERSION_NOT_SUPPORTED,
                    f"A2A-Version {request.headers[VERSION_HEADER]!r} is not supported.",
                    data={"supported": list(SUPPORTED_VERSIONS)},
                )
            call, wire = self._method(method)
            response = await call(
                A2aCall(request, agent, audit, request_id, params, RENDERERS[wire])
            )
        except A2aError as exc:
            self.metrics.request(method, request.match_info.get("agent"), "error")
            return json_response(error_message(request_id, exc), exc.status)
        except APIError as exc:
            self.metrics.request(method, request.match_info.get("agent"), "rejected")
            error = A2aError(SERVER_ERROR, exc.message, data={"type": exc.type, "code": exc.code})
            response = json_response(error_message(request_id, error), exc.status)
            response.headers.update(exc.headers)
            return response
        self.metrics.request(method, agent.name, "ok")
        return response

    def _method(self, method: str) -> tuple[Call, str]:
        found = self._methods.get(method)
        if found is None:
            raise A2aError(METHOD_NOT_FOUND, f"Method {method!r} not found.")
        return found

    def _service(self) -> TaskService:
        assert self.service is not None, "the A2A task service starts with the app"
        return self.service

    async def _start(self, call: A2aCall) -> tuple[Task, bool, int | None]:
        """Submit the message's task, which logs the audit event when it ends; a message
        refused before (bad params, shedding, the store down) logs it here, failed."""
        try:
            return await self._submit(call)
        except BaseException as exc:
            call.audit.failed(_failure(exc))
            call.audit.emit()
            raise

    async def _submit(self, call: A2aCall) -> tuple[Task, bool, int | None]:
        version = call.render.version
        params = send_params(call.params, SEND_MESSAGE.name(version), version)
        service = self._service()
        if params.task_id is not None:
            await self._task(call, params.task_id)
            raise A2aError(
                UNSUPPORTED_OPERATION,
                "The task is finished: send the next message with its contextId, not its taskId.",
            )
        context_id = params.context_id or new_id()
        earlier = await service.context_turns(call.subject, context_id)
        turns = (*earlier, Turn("user", params.text, params.message_id))
        execution = await service.start(
            call.subject, call.agent, turns, context_id, account_for(call.request), call.audit
        )
        return execution.task, params.wait, params.history_length

    async def _send(self, call: A2aCall) -> web.StreamResponse:
        task, wait, history_length = await self._start(call)
        if wait:
            task = await self._service().final(call.subject, task, call.agent.settings.timeout)
        return json_response(result_message(call.id, call.render.task_result(task, history_length)))

    async def _stream(self, call: A2aCall) -> web.StreamResponse:
        task, _, _ = await self._start(call)
        return await self._events(call, task)

    async def _subscribe(self, call: A2aCall) -> web.StreamResponse:
        method = SUBSCRIBE_TO_TASK.name(call.render.version)
        task = await self._task(call, task_params(call.params, method).id)
        if task.terminal:
            raise A2aError(UNSUPPORTED_OPERATION, f"Task {task.id!r} is already {task.state}.")
        return await self._events(call, task)

    async def _events(self, call: A2aCall, task: Task) -> web.StreamResponse:
        response = await open_stream(call.request, {})
        render = call.render
        previous: Task | None = None
        with contextlib.suppress(ConnectionError):
            async for current in self._service().follow(
                call.subject, task, call.agent.settings.timeout
            ):
                for event in _changes(render, previous, current):
                    await response.write(
                        f"data: {dumps(result_message(call.id, event))}\n\n".encode()
                    )
                previous = current
            await response.write_eof()
        return response

    async def _get(self, call: A2aCall) -> web.StreamResponse:
        params = task_params(call.params, GET_TASK.name(call.render.version))
        task = await self._task(call, params.id)
        return json_response(result_message(call.id, call.render.task(task, params.history_length)))

    async def _list(self, call: A2aCall) -> web.StreamResponse:
        params = list_params(call.params, LIST_TASKS.name(call.render.version))
        tasks = [
            task
            for task in await self._service().store.tasks(call.subject)
            if task.agent == call.agent.name
            and params.context_id in (None, task.context_id)
            and params.state in (None, task.state)
        ]
        page = tasks[params.offset : params.offset + params.page_size]
        after = params.offset + len(page)
        result = {
            "tasks": [call.render.task(task, params.history_length) for task in page],
            "nextPageToken": str(after) if after < len(tasks) else "",
            "pageSize": params.page_size,
            "totalSize": len(tasks),
        }
        return json_response(result_message(call.id, result))

    async def _cancel(self, call: A2aCall) -> web.StreamResponse:
        method = CANCEL_TASK.name(call.render.version)
        task = await self._task(call, task_params(call.params, method).id)
        if task.terminal:
            raise A2aError(TASK_NOT_CANCELABLE, f"Task {task.id!r} is already {task.state}.")
        service = self._service()
        key = task_key(call.subject, task.id)
        if service.cancel_here(key):
            task = await service.final(call.subject, task, STOP_SECONDS)
        else:
            if self.relay is not None and await self.relay.publish(key):
                self.metrics.cancels_relayed_total.inc()
            canceled = task.moved("canceled", "The task was canceled.")
            task = await service.store.save(call.subject, canceled)
            if task.state != "canceled":
                # It ended on its replica between the load above and this save (a replica
                # that stopped it on the relayed cancel saved it canceled itself: that stands).
                raise A2aError(TASK_NOT_CANCELABLE, f"Task {task.id!r} is already {task.state}.")
        return json_response(result_message(call.id, call.render.task(task)))

    async def _extended_card(self, call: A2aCall) -> web.StreamResponse:
        """The agent's card in the call's wire version; a caller who may not use the agent was
        refused before, as for an unknown agent."""
        base, name = self.cards.base_url(call.request), call.agent.name
        if call.render.version == V1:
            card = self.cards.agent(base, name)
        else:
            card = self.cards.legacy(base, name, (name,))
        return json_response(result_message(call.id, card))

    async def _task(self, call: A2aCall, task_id: str) -> Task:
        task = await self._service().store.load(call.subject, task_id)
        if task is None or task.agent != call.agent.name:
            raise A2aError(TASK_NOT_FOUND, f"Task {task_id!r} not found.")
        return task


def _failure(exc: BaseException) -> APIError | str:
    """What the audit trail says of a message refused before its task started."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, A2aError):
        return "invalid_request"
    return "cancelled" if isinstance(exc, asyncio.CancelledError) else "internal_error"


def _visible(request: web.Request) -> tuple[str, ...]:
    """The agents a card may list: on a public path, without a token, those without rules."""
    return tuple(agent.name for agent in visible_agents(request))


def _agent_name(request: web.Request) -> str:
    """The card's agent; unknown or forbidden: AgentNotFoundError (404), alike."""
    return agent_for(request, request.match_info["agent"]).name


def _changes(render: Renderer, previous: Task | None, current: Task) -> list[dict[str, Any]]:
    """The stream events between two states of a task: the task itself first."""
    if previous is None:
        return [render.task_result(current)]
    events = []
    if current.answer is not None and previous.answer is None:
        events.append(render.artifact_update(current))
    if (current.state, current.status_text) != (previous.state, previous.status_text):
        events.append(render.status_update(current))
    return events


def _envelope(document: Any) -> tuple[Any, str, Any]:
    if not isinstance(document, dict) or document.get("jsonrpc") != "2.0":
        raise A2aError(INVALID_REQUEST, "The body must be one JSON-RPC 2.0 request object.")
    request_id = document.get("id")
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        raise A2aError(INVALID_REQUEST, "A JSON-RPC request needs an 'id' (string or integer).")
    method = document.get("method")
    if not isinstance(method, str) or not method:
        raise A2aError(INVALID_REQUEST, "A JSON-RPC request needs a 'method'.", data=None)
    return request_id, method, document.get("params")
