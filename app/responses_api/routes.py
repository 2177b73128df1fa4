"""The Responses API front door's route records: ``POST /v1/responses`` and the stored
responses' ``GET`` and ``DELETE /v1/responses/{response_id}``."""

from __future__ import annotations

from aiohttp import hdrs
from aiohttp.typedefs import Handler
from pydantic import BaseModel

from app.config import AppConfig
from app.contract.openapi import JSON, SSE, path_parameter
from app.contract.routes import Reply, Route, agent_run_route
from app.http.responses import ANSWERED_BY

from . import handlers
from .models import Response, ResponseCreateRequest, ResponseDeleted, ResponseStreamEvent

STORED_PATH = "/v1/responses/{response_id}"
RESPONSE_ID = path_parameter("response_id", "A stored response's id (resp_...).")
# An unknown or another subject's id, and the shared store unreachable.
STORED_ERRORS = frozenset({404, 503})


def _stored_route(
    method: str,
    handler: Handler,
    operation_id: str,
    summary: str,
    model: type[BaseModel] = Response,
) -> Route:
    """A route of one stored response: ``summary`` describes its reply as well."""
    return Route(
        method,
        STORED_PATH,
        handler,
        operation_id,
        summary,
        {200: Reply(summary, {JSON: model})},
        parameters=(RESPONSE_ID,),
        errors=STORED_ERRORS,
    )


def responses_routes(config: AppConfig) -> tuple[Route, ...]:
    return (
        agent_run_route(
            "/v1/responses",
            handlers.create_response,
            "create_response",
            "OpenAI Responses API: a response from an agent.",
            Reply(
                "A response, or SSE typed events with `stream: true`.",
                {JSON: Response, SSE: ResponseStreamEvent},
                ANSWERED_BY,
            ),
            ResponseCreateRequest,
        ),
        _stored_route(hdrs.METH_GET, handlers.get_response, "get_response", "A stored response."),
        _stored_route(
            hdrs.METH_DELETE,
            handlers.delete_response,
            "delete_response",
            "Delete a stored response.",
            ResponseDeleted,
        ),
    )
