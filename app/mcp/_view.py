"""``/mcp``: the Streamable HTTP transport, one JSON-RPC message per POST, for both eras.

Requests are answered with ``application/json``, or with a ``text/event-stream`` that ends after
the final response (``tools/call`` when the client accepts it, so progress and keep-alives can
flow); notifications and client responses get 202 without a body. Sessions are minted on
``initialize`` but never required nor looked up: any replica serves any request.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

import structlog
from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, StrictStr

from app.config import AppConfig, deployed_version
from app.core import visible_agents
from app.errors import APIError
from app.http.jsonrpc import read_message
from app.observability import tracing

from ._calls import (
    CallSettings,
    InFlight,
    ToolCallHandler,
    call_key,
    cancel_params,
    client_gone,
    json_response,
    open_sse,
    sse_event,
)
from ._jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    JsonRpcClientResponse,
    JsonRpcRequest,
    McpError,
    RequestId,
    error_message,
    parse_message,
    parse_params,
    result_message,
)
from ._metrics import McpMetrics, RequestOutcome
from ._protocol import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    SERVER_INFO_META,
    SESSION_HEADER,
    SUPPORTED_VERSIONS,
    Accepts,
    Era,
    accepts,
    era_of,
)
from ._relay import CancelRelay
from ._tools import ToolCatalogue
from ._tracing import tools_call_span

log = structlog.get_logger("agentsmcp.mcp")

MCP_PATH: Final = "/mcp"
SERVER_NAME: Final = "agentsmcp"
# How long a stateless-era client may cache discovery and list results.
CACHE_TTL_MS: Final = 60_000
# Hosts call these without the capability being declared (claude.ai does): empty, not errors.
EMPTY_LISTS: Final = {
    "prompts/list": "prompts",
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
}
CAPABILITIES: Final = {"tools": {"listChanged": False}}


class _InitializeParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    protocolVersion: StrictStr
    capabilities: dict[str, Any] = {}
    clientInfo: dict[str, Any] = {}


class _ListParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    cursor: StrictStr | None = None


class McpEndpoint:
    """Everything ``/mcp`` needs, built once per application from the configuration."""

    def __init__(self, config: AppConfig, registry: CollectorRegistry) -> None:
        settings = config.mcp
        self.catalogue = ToolCatalogue(config)
        self.metrics = McpMetrics(registry, (tool.name for tool in self.catalogue))
        self.inflight = InFlight()
        self.calls = ToolCallHandler(
            self.catalogue,
            self.metrics,
            self.inflight,
            CallSettings(settings.progress_interval_seconds, settings.keepalive_seconds),
        )
        # Set while the app runs when replicas share a store (the cleanup context in __init__).
        self.relay: CancelRelay | None = None
        self._check_origin = settings.check_origin
        self._origins = frozenset(config.server.cors_origins)
        self._server_info = {"name": SERVER_NAME, "version": deployed_version()}
        self._instructions = settings.instructions

    def render_error(self, exc: APIError) -> web.Response:
        """An error raised outside the view's own handling (auth, rate limit, body size, CORS,
        a bug) as a JSON-RPC error; ``data`` keeps the API's type and code."""
        outcome: RequestOutcome
        if exc.status >= 500:
            code, outcome = INTERNAL_ERROR, "error"
        elif exc.status in (400, 405, 413, 415):
            code, outcome = INVALID_REQUEST, "rejected"
        else:
            code, outcome = SERVER_ERROR, "rejected"
        self.metrics.request(None, outcome)
        error = McpError(code, exc.message, data={"type": exc.type, "code": exc.code})
        return json_response(error_message(None, error), status=exc.status, headers=exc.headers)

    async def post(self, request: web.Request) -> web.StreamResponse:
        try:
            self._origin(request)
            message = parse_message(await read_message(request, McpError))
        except McpError as exc:
            self.metrics.request(None, "rejected")
            return _error(None, exc)
        if isinstance(message, JsonRpcClientResponse):
            self.metrics.request(None, "ok")
            return web.Response(status=202)
        request_id = message.id if isinstance(message, JsonRpcRequest) else None
        try:
            era = era_of(
                request,
                message.method,
                message.params,
                is_request=isinstance(message, JsonRpcRequest),
            )
        except McpError as exc:
            self.metrics.request(message.method, "rejected")
            return _error(request_id, exc)
        if not isinstance(message, JsonRpcRequest):
            await self._notification(request, message.method, message.params)
            self.metrics.request(message.method, "ok")
            return web.Response(status=202)
        accept = accepts(request)
        if not (accept.json or accept.sse):
            self.metrics.request(message.method, "rejected")
            return _error(
                message.id,
                McpError(
                    INVALID_REQUEST,
                    "Not Acceptable: the Accept header must allow application/json or"
                    " text/event-stream.",
                    status=406,
                ),
            )
        try:
            response = await self._dispatch(request, message, era, accept)
        except McpError as exc:
            if exc.code == METHOD_NOT_FOUND and era.stateless:
                exc.status = 404
            rejected = exc.code == SERVER_ERROR
            self.metrics.request(message.method, "rejected" if rejected else "error")
            return _error(message.id, exc)
        self.metrics.request(message.method, "ok")
        return response

    def _origin(self, request: web.Request) -> None:
        origin = request.headers.get(hdrs.ORIGIN)
        if self._check_origin and origin is not None and origin not in self._origins:
            raise McpError(
                INVALID_REQUEST,
                "Forbidden: this Origin is not allowed (add it to server.cors_origins).",
                status=403,
            )

    async def _notification(self, request: web.Request, method: str, params: Any) -> None:
        if method != "notifications/cancelled":
            return
        parsed = cancel_params(params)
        if parsed is None:
            return
        key = call_key(request, parsed.requestId)
        if self.inflight.cancel(key):
            self.metrics.cancelled("notification")
            log.info("mcp cancel notification", reason=(parsed.reason or "")[:200])
        elif self.relay is not None:
            # Probably running on another replica: best effort, never an error to the client.
            await self.relay.publish(key)

    async def _call(
        self,
        request: web.Request,
        message: JsonRpcRequest,
        era: Era,
        accept: Accepts,
        extra: dict[str, Any],
    ) -> web.StreamResponse:
        span = tools_call_span(request, message, era)
        if span is None:
            return await self.calls.serve(request, message, sse=accept.sse, extra=extra)
        try:
            with tracing.current(span):
                response = await self.calls.serve(request, message, sse=accept.sse, extra=extra)
        except BaseException as exc:
            tracing.end_span(span, tracing.error_type(exc))
            raise
        tracing.end_span(span)
        return response

    async def _dispatch(
        self, request: web.Request, message: JsonRpcRequest, era: Era, accept: Accepts
    ) -> web.StreamResponse:
        method = message.method
        # Stateless-era results name the server in _meta on every response (there is no
        # initialize result to carry serverInfo).
        extra: dict[str, Any] = (
            {"resultType": "complete", "_meta": {SERVER_INFO_META: self._server_info}}
            if era.stateless
            else {}
        )
        cacheable = {**extra, "cacheScope": "private", "ttlMs": CACHE_TTL_MS} if extra else {}
        if method == "tools/call":
            return await self._call(request, message, era, accept, extra)
        headers: dict[str, str] = {}
        result: dict[str, Any]
        if method == "initialize":
            params = parse_params(_InitializeParams, message.params, method)
            requested = params.protocolVersion
            version = requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE_VERSION
            result = {
                "protocolVersion": version,
                "capabilities": CAPABILITIES,
                "serverInfo": self._server_info,
            }
            if self._instructions:
                result["instructions"] = self._instructions
            headers[SESSION_HEADER] = secrets.token_urlsafe(24)
        elif method == "ping":
            result = {**extra}
        elif method == "tools/list":
            self._check_cursor(message)
            agents = {agent.name for agent in visible_agents(request)}
            result = {"tools": self.catalogue.descriptors_of(agents), **cacheable}
        elif method == "server/discover":
            result = {
                "supportedVersions": list(SUPPORTED_VERSIONS),
                "capabilities": CAPABILITIES,
                **cacheable,
            }
            if self._instructions:
                result["instructions"] = self._instructions
        elif method in EMPTY_LISTS:
            self._check_cursor(message)
            result = {EMPTY_LISTS[method]: [], **cacheable}
        else:
            shown = method if len(method) <= 64 else method[:64] + "..."
            raise McpError(METHOD_NOT_FOUND, f"Method not found: {shown!r}.")
        return await _answer(request, result_message(message.id, result), accept, headers)

    @staticmethod
    def _check_cursor(message: JsonRpcRequest) -> None:
        params = parse_params(_ListParams, message.params, message.method)
        if params.cursor is not None:
            # Every list fits in one page: no cursor was ever handed out.
            raise McpError(INVALID_PARAMS, "Invalid cursor: this server returns one page.")


def _error(request_id: RequestId | None, exc: McpError) -> web.Response:
    return json_response(error_message(request_id, exc), status=exc.status, headers=exc.headers)


async def _answer(
    request: web.Request, payload: dict[str, Any], accept: Accepts, headers: dict[str, str]
) -> web.StreamResponse:
    if accept.json:
        return json_response(payload, headers=headers)
    try:
        response = await open_sse(request, headers)
        await response.write(sse_event(payload))
        await response.write_eof()
    except ConnectionError:
        return client_gone()
    return response


async def method_not_allowed(request: web.Request) -> web.Response:
    """GET (no server-initiated stream) and DELETE (no session to end): 405, as both eras
    allow; clients handle it."""
    error = McpError(
        INVALID_REQUEST,
        f"Method {request.method} is not allowed on {MCP_PATH}: POST one JSON-RPC message.",
        status=405,
        headers={"Allow": "POST"},
    )
    return _error(None, error)
