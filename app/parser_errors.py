"""Errors raised by aiohttp's HTTP parser, rendered in the API's JSON error shape.

A request the parser rejects (a header over 8190 bytes, too many headers, a malformed request
line or chunked body) never reaches the application or its middlewares: aiohttp answers it from
``RequestHandler.handle_error`` with a plain-text body that echoes the first 100 bytes of the
offending line (an ``Authorization`` header, for instance) and logs a full traceback at ERROR.
:class:`AppRunner` serves the application through a protocol whose ``handle_error`` answers
with the same ``{"error": {...}}`` body as every other error, echoes nothing from the request and
logs one line without the offending bytes. The rejection is counted in
``http_requests_total{method="OTHER", route="unmatched"}``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from app.app_keys import CONFIG_KEY, METRICS_KEY
from app.contract import errors
from app.errors import APIError, BadRequestError, InternalServerError
from app.middlewares import REQUEST_ID_HEADER, SERVER_NAME
from app.observability.metrics import OTHER_METHOD, UNMATCHED_ROUTE, Metrics

log = structlog.get_logger("agentsmcp.parser_errors")


class HeaderTooLargeError(APIError):
    error = errors.REQUEST_HEADER_TOO_LARGE


class MalformedHTTPError(BadRequestError):
    error = errors.BAD_HTTP_REQUEST


class GatewayTimeoutError(APIError):
    error = errors.HANDLER_TIMEOUT


def parser_error(status: int, exc: BaseException | None) -> APIError:
    """The API error for an error that aiohttp handles below the application."""
    if isinstance(exc, LineTooLong) or (
        isinstance(exc, HttpProcessingError) and "too many headers" in exc.message.lower()
    ):
        return HeaderTooLargeError()
    if status == 504:
        return GatewayTimeoutError()
    if status >= 500:
        return InternalServerError()
    return MalformedHTTPError()


class JSONErrorRequestHandler(RequestHandler):
    metrics: Metrics | None = None

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        error = parser_error(status, exc)
        if error.status >= 500:
            self.log_exception("Error handling request", exc_info=exc)
        else:
            # The exception text holds client bytes (possibly a credential): log its type only.
            log.info(
                "rejected malformed HTTP request",
                status=error.status,
                code=error.code,
                reason=type(exc).__name__ if exc is not None else None,
                remote=request.remote,
            )
        if self.metrics is not None:
            # The request never matched a route (or was never parsed): count it as unmatched.
            self.metrics.observe_request(OTHER_METHOD, UNMATCHED_ROUTE, error.status, 0.0)
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; cannot send an error response")
        response = error.to_response()
        response.headers[REQUEST_ID_HEADER] = uuid.uuid4().hex
        response.headers[hdrs.SERVER] = SERVER_NAME
        response.force_close()
        return response


def server_internals(server: web.Server) -> tuple[asyncio.AbstractEventLoop, dict[str, Any]]:
    """The one place that reads aiohttp internals. aiohttp has no public way to use another
    RequestHandler class: ``web.Server`` keeps its loop and the handler's keyword arguments
    (limits, access log...) private, and ``AppRunner._make_server`` is the hook that builds it.
    tests/app/test_aiohttp_internals.py fails loudly when aiohttp changes any of them."""
    return server._loop, dict(server._kwargs)


class JSONErrorServer(web.Server):
    metrics: Metrics | None = None

    def __call__(self) -> RequestHandler:
        loop, kwargs = server_internals(self)
        handler = JSONErrorRequestHandler(self, loop=loop, **kwargs)
        handler.metrics = self.metrics
        return handler


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer parser-level errors in the JSON error shape."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        loop, kwargs = server_internals(server)
        json_server = JSONErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=loop,
            **kwargs,
        )
        if self.app[CONFIG_KEY].metrics.enabled:
            json_server.metrics = self.app[METRICS_KEY]
        return json_server
