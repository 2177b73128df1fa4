"""``tools/call``: an agent run over the runner's streaming path, with progress notifications,
keep-alives and cancellation (a ``notifications/cancelled`` or a closed connection).

The run is its own task: a cancel notification (another POST) cancels exactly that task, which
closes the upstream provider request at once; the handler then ends the response. Calls are
registered per authenticated subject and session, so nobody cancels another's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.app_keys import SHUTDOWN_DEADLINE_KEY, SUBJECT_KEY
from app.core import (
    ADMISSION_KEY,
    NO_MAX_TOKENS,
    RUNNER_KEY,
    AuditRecord,
    ConnectionWatch,
    RunOptions,
    RunResult,
    RunStream,
    ServerOverloadedError,
    ToolCallFinished,
    ToolCallStarted,
    ToolRun,
    audited,
    estimate_tokens,
    refusal,
)
from app.core.gate import MCP
from app.core.wire import usage_json
from app.errors import APIError
from app.limits import account_for
from app.middlewares import CLIENT_CLOSED_REQUEST
from app.observability import tracing
from app.providers import ChatParams

from ._jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    REQUEST_CANCELLED,
    SERVER_ERROR,
    JsonRpcRequest,
    McpError,
    RequestId,
    dumps,
    error_message,
    notification_message,
    parse_params,
    result_message,
)
from ._metrics import CancelReason, McpMetrics
from ._protocol import CLIENT_INFO_META, SESSION_HEADER
from ._tools import Tool, ToolCatalogue, ToolInput, ToolOutput

log = structlog.get_logger("agentsmcp.mcp")

# The progress message carries the answer so far, cut to its last characters.
PROGRESS_MESSAGE_CHARS: Final = 2000
KEEPALIVE: Final = b": keepalive\n\n"


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    progressToken: StrictStr | StrictInt | None = None


class CallToolParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: StrictStr
    arguments: dict[str, Any] | None = None
    meta: _Meta | None = Field(None, alias="_meta")


class CancelledParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    requestId: StrictStr | StrictInt
    reason: str | None = None


# A digest of (subject, session, request id): what the cancel relay publishes, so the shared
# store never sees who called.
CallKey = str


def call_key(request: web.Request, request_id: RequestId) -> CallKey:
    """Who may cancel a call: the same subject, on the same session (or none), by its id."""
    parts = (request.get(SUBJECT_KEY, ""), request.headers.get(SESSION_HEADER, ""), request_id)
    return hashlib.sha256(dumps(parts).encode()).hexdigest()


class InFlight:
    """Tool calls running in this process. A cancel that matches none of them is relayed to the
    other replicas when they share a store (``_relay``), and otherwise ignored, as the
    specification allows."""

    def __init__(self) -> None:
        self._calls: dict[CallKey, set[asyncio.Task[Any]]] = {}

    @contextlib.contextmanager
    def track(self, key: CallKey, task: asyncio.Task[Any]) -> Iterator[None]:
        self._calls.setdefault(key, set()).add(task)
        try:
            yield
        finally:
            tasks = self._calls.get(key)
            if tasks is not None:
                tasks.discard(task)
                if not tasks:
                    del self._calls[key]

    def cancel(self, key: CallKey) -> int:
        tasks = self._calls.get(key, set())
        for task in tasks:
            task.cancel()
        return len(tasks)

    def __len__(self) -> int:
        return sum(len(tasks) for tasks in self._calls.values())


@dataclass(frozen=True, slots=True)
class CallSettings:
    progress_interval: float
    keepalive: float


@dataclass
class _Run:
    """The agent's text so far, the tools it is calling (tools agents), and the task producing
    them. ``changed`` is set when a tool call starts, so progress names it at once."""

    parts: list[str] = field(default_factory=list)
    chars: int = 0
    # Tool call id -> tool name, of the calls running now.
    running: dict[str, str] = field(default_factory=dict)
    tool_calls: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def collect(self, stream: RunStream | ToolRun) -> RunResult:
        async with stream:
            async for item in stream:
                if type(item) is str:
                    self.parts.append(item)
                    self.chars += len(item)
                elif isinstance(item, ToolCallStarted):
                    self.running[item.id] = item.name
                    self.tool_calls += 1
                    self.changed.set()
                elif isinstance(item, ToolCallFinished):
                    self.running.pop(item.record.id, None)
        assert stream.result is not None
        return stream.result

    def text(self) -> str:
        return "".join(self.parts)

    def progress(self) -> int:
        return self.chars + self.tool_calls


def tool_result(result: RunResult, output: str) -> dict[str, Any]:
    structured = ToolOutput.model_validate(
        {
            "output": output,
            "agent": result.agent.name,
            "model": result.model,
            "finish_reason": result.finish_reason,
            "usage": usage_json(result.usage),
        }
    ).model_dump(mode="json")
    return {
        "content": [{"type": "text", "text": dumps(structured)}],
        "structuredContent": structured,
        "isError": False,
    }


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _actionable(exc: APIError) -> str:
    """The API error's message, its code, and when to retry if it says."""
    message = f"{exc.message} (error code: {exc.code})"
    retry_after = exc.headers.get("Retry-After")
    if retry_after is not None:
        message += f" Retry after {retry_after} s."
    return message


@dataclass(frozen=True, slots=True)
class ToolCallHandler:
    """Serves one ``tools/call`` request."""

    _catalogue: ToolCatalogue
    _metrics: McpMetrics
    _inflight: InFlight
    _settings: CallSettings

    def tool(self, request: web.Request, name: str, audit: AuditRecord) -> Tool:
        """The tool ``name`` if the caller may use its agent; an unknown tool and a forbidden
        agent's tool get the same error (an agent's existence does not leak)."""
        tool = self._catalogue.get(name)
        reason = "unknown_agent" if tool is None else refusal(request, tool.agent)
        if tool is None or reason is not None:
            shown = name if len(name) <= 64 else name[:64] + "..."
            self._metrics.tool_call(name, "error")
            audit.refused(reason or "unknown_agent")
            raise McpError(INVALID_PARAMS, f"Unknown tool: {shown!r}. tools/list lists them.")
        audit.agent = tool.agent
        return tool

    async def serve(
        self, request: web.Request, message: JsonRpcRequest, *, sse: bool, extra: dict[str, Any]
    ) -> web.StreamResponse:
        """Run the call; ``extra`` joins the result (the stateless era's ``resultType``)."""
        params: CallToolParams = parse_params(CallToolParams, message.params, "tools/call")
        with audited(request, MCP, params.name, client=_client_info(params)) as audit:
            tool = self.tool(request, params.name, audit)
            return await self._serve(request, message, tool, params, audit, sse=sse, extra=extra)

    async def _serve(
        self,
        request: web.Request,
        message: JsonRpcRequest,
        tool: Tool,
        params: CallToolParams,
        audit: AuditRecord,
        *,
        sse: bool,
        extra: dict[str, Any],
    ) -> web.StreamResponse:
        arguments = tool.arguments(params.arguments)
        if isinstance(arguments, str):
            self._metrics.tool_call(tool.name, "tool_error")
            audit.failed("invalid_arguments")
            return json_response(result_message(message.id, {**error_result(arguments), **extra}))
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(request.app[ADMISSION_KEY].admit())
            except ServerOverloadedError as exc:
                tracing.record_error(exc.code)
                raise McpError(
                    SERVER_ERROR,
                    f"{exc.message} (error code: {exc.code})",
                    data={"code": exc.code, "retry_after_seconds": int(exc.headers["Retry-After"])},
                ) from None
            progress_token = params.meta.progressToken if params.meta is not None else None
            return await self._run(
                request, message, tool, arguments, progress_token, audit, sse=sse, extra=extra
            )

    async def _run(
        self,
        request: web.Request,
        message: JsonRpcRequest,
        tool: Tool,
        arguments: ToolInput,
        progress_token: str | int | None,
        audit: AuditRecord,
        *,
        sse: bool,
        extra: dict[str, Any],
    ) -> web.StreamResponse:
        runner = request.app[RUNNER_KEY]
        agent = runner.agent(tool.agent)
        max_tokens = NO_MAX_TOKENS if arguments.max_tokens is None else arguments.max_tokens
        options = RunOptions(ChatParams(max_tokens))
        stream = runner.stream(agent, arguments.messages(), options, account_for(request))
        run = _Run()
        task = asyncio.create_task(run.collect(stream), name=f"mcp-tool-call-{tool.name}")
        started = time.perf_counter()
        response: web.StreamResponse | None = None
        metrics = self._metrics
        try:
            with (
                self._inflight.track(call_key(request, message.id), task),
                ConnectionWatch(request, request.app[SHUTDOWN_DEADLINE_KEY]) as watch,
            ):
                try:
                    if sse:
                        response = await open_sse(request)
                        await self._wait_streaming(response, task, run, progress_token)
                    else:
                        await asyncio.wait({task})
                except (asyncio.CancelledError, ConnectionError) as exc:
                    await _stop(task)
                    if isinstance(exc, asyncio.CancelledError) and watch.absorb_shutdown():
                        stopped = error_result(
                            "The server is shutting down and stopped this run; retry the call"
                            " (another replica will serve it)."
                        )
                        payload = result_message(message.id, {**stopped, **extra})
                        audit.failed("server_shutting_down")
                        metrics.tool_call(tool.name, "tool_error", time.perf_counter() - started)
                        return await _finish(request, response, payload)
                    metrics.cancelled("disconnect")
                    audit.failed("client_disconnected")
                    self._cancelled(tool, run, "disconnect", started)
                    if isinstance(exc, ConnectionError):
                        return response if response is not None else client_gone()
                    raise
        finally:
            if not task.done():
                await _stop(task)
        duration = time.perf_counter() - started
        if task.cancelled():
            # By notifications/cancelled, which counted the cancellation.
            audit.failed("cancelled")
            self._cancelled(tool, run, "notification", started)
            if response is not None:
                with contextlib.suppress(ConnectionError):
                    await response.write_eof()
                return response
            cancelled = McpError(REQUEST_CANCELLED, "Request cancelled")
            return json_response(error_message(message.id, cancelled))
        _audit_run(audit, task)
        payload = self._payload(message.id, tool, task, run, duration, extra)
        return await _finish(request, response, payload)

    def _payload(
        self,
        request_id: RequestId,
        tool: Tool,
        task: asyncio.Task[RunResult],
        run: _Run,
        duration: float,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        """The answer to a call whose run ended (not cancelled): its result, the tool error a
        limit or an API error makes, or an internal error."""
        metrics = self._metrics
        failure = task.exception()
        limit = task.result().limit if failure is None else None
        if limit is not None:
            message_text = f"{limit.message} (error code: {limit.code})"
            metrics.tool_call(tool.name, "tool_error", duration)
            return result_message(request_id, {**error_result(message_text), **extra})
        if failure is None:
            metrics.tool_call(tool.name, "ok", duration)
            return result_message(request_id, {**tool_result(task.result(), run.text()), **extra})
        if isinstance(failure, APIError):
            metrics.tool_call(tool.name, "tool_error", duration)
            return result_message(request_id, {**error_result(_actionable(failure)), **extra})
        log.error(
            "mcp tool call failed",
            tool=tool.name,
            error_type=type(failure).__name__,
            exc_info=failure,
        )
        metrics.tool_call(tool.name, "error", duration)
        internal = McpError(INTERNAL_ERROR, "Internal error while running the agent.")
        return error_message(request_id, internal)

    def _cancelled(self, tool: Tool, run: _Run, reason: CancelReason, started: float) -> None:
        # The runner recorded the run's cancelled outcome and charged what it used.
        self._metrics.tool_call(tool.name, "cancelled", time.perf_counter() - started)
        log.info(
            "mcp tool call cancelled",
            tool=tool.name,
            reason=reason,
            chars=run.chars,
            completion_tokens_estimate=estimate_tokens(run.chars),
        )

    async def _wait_streaming(
        self,
        response: web.StreamResponse,
        task: asyncio.Task[RunResult],
        run: _Run,
        progress_token: str | int | None,
    ) -> None:
        settings = self._settings
        if progress_token is None:
            while True:
                done, _ = await asyncio.wait({task}, timeout=settings.keepalive)
                if done:
                    return
                await response.write(KEEPALIVE)
        progress = 0
        last = time.perf_counter()
        await response.write(_progress_event(progress_token, progress, run))
        while True:
            run.changed.clear()
            changed = asyncio.ensure_future(run.changed.wait())
            waiters: set[asyncio.Future[Any]] = {task, changed}
            try:
                finished, _ = await asyncio.wait(
                    waiters,
                    timeout=settings.progress_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                changed.cancel()
            if task in finished:
                return
            # Progress counts the answer's characters and the tool calls started; it grows by
            # at least 1 per notification.
            progress = max(run.progress(), progress + 1)
            await response.write(_progress_event(progress_token, progress, run))
            now = time.perf_counter()
            self._metrics.progress_gap.observe(now - last)
            last = now


def _client_info(params: CallToolParams) -> str | None:
    """The stateless era's ``_meta`` clientInfo as ``name/version`` (the handshake era sends it
    only on initialize, which no later request is tied to: the audit then names the User-Agent)."""
    extra = params.meta.model_extra if params.meta is not None else None
    info = (extra or {}).get(CLIENT_INFO_META)
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        return None
    version = info.get("version")
    return f"{info['name']}/{version}" if isinstance(version, str) else info["name"]


def _audit_run(audit: AuditRecord, task: asyncio.Task[RunResult]) -> None:
    failure = task.exception()
    if failure is None:
        audit.finished(task.result())
        limit = task.result().limit
        if limit is not None:
            audit.failed(limit.code)
    else:
        audit.failed(failure if isinstance(failure, APIError) else "internal_error")


def _progress_event(token: str | int, progress: int, run: _Run) -> bytes:
    text = run.text()
    if len(text) > PROGRESS_MESSAGE_CHARS:
        text = "..." + text[-PROGRESS_MESSAGE_CHARS:]
    params: dict[str, Any] = {"progressToken": token, "progress": progress}
    if run.running:
        names = ", ".join(sorted(set(run.running.values())))
        params["message"] = (
            f"Running tool {names}." if len(run.running) == 1 else (f"Running tools {names}.")
        )
    else:
        params["message"] = text or "The agent is working."
    return sse_event(notification_message("notifications/progress", params))


async def _stop(task: asyncio.Task[Any]) -> None:
    """Cancel the run and wait until its upstream request is closed."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _finish(
    request: web.Request, response: web.StreamResponse | None, payload: dict[str, Any]
) -> web.StreamResponse:
    if response is None:
        return json_response(payload)
    with contextlib.suppress(ConnectionError):
        await response.write(sse_event(payload))
        await response.write_eof()
    return response


def json_response(
    payload: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def client_gone() -> web.Response:
    """What a handler returns once the client has closed the connection: nothing reaches it
    (aiohttp drops the write quietly); the access log and metrics record 499, not an error."""
    return web.Response(status=CLIENT_CLOSED_REQUEST)


def sse_event(payload: dict[str, Any]) -> bytes:
    return f"event: message\ndata: {dumps(payload)}\n\n".encode()


async def open_sse(
    request: web.Request, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            **(headers or {}),
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-transform",
            # nginx and similar proxies must not buffer the stream.
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    return response


def cancel_params(params: dict[str, Any] | None) -> CancelledParams | None:
    try:
        parsed: CancelledParams = parse_params(CancelledParams, params, "notifications/cancelled")
    except McpError:
        return None
    return parsed
