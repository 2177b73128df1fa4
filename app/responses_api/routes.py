"""The Responses API front door's route records: ``POST /v1/responses`` and the stored
responses' ``GET`` and ``DELETE /v1/responses/{response_id}``."""

from __future__ import annotations

from aiohttp import hdrs

from app.config import AppConfig
from app.contract.openapi import JSON, SSE
from app.contract.routes import AGENT_RUN_ERRORS, Reply, Route
from app.http.responses import AGENT_HEADER

from . import handlers
from .models import Response, ResponseCreateRequest, ResponseDeleted, ResponseStreamEvent

STORED_PATH = "/v1/responses/{response_id}"
RESPONSE_ID = {
    "name": "response_id",
    "in": "path",
    "required": True,
    "description": "A stored response's id (resp_...).",
    "schema": {"type": "string"},
}
# An unknown or another subject's id, and the shared store unreachable.
STORED_ERRORS = frozenset({404, 503})


def responses_routes(config: AppConfig) -> tuple[Route, ...]:
    answered_by = {
        AGENT_HEADER: {"description": "The agent that answered.", "schema": {"type": "string"}}
    }
    return (
        Route(
            hdrs.METH_POST,
            "/v1/responses",
            handlers.create_response,
            "create_response",
            "OpenAI Responses API: a response from an agent.",
            {
                200: Reply(
                    "A response, or SSE typed events with `stream: true`.",
                    {JSON: Response, SSE: ResponseStreamEvent},
                    answered_by,
                )
            },
            body=ResponseCreateRequest,
            errors=AGENT_RUN_ERRORS,
            agent_run=True,
            may_shed=True,
        ),
        Route(
            hdrs.METH_GET,
            STORED_PATH,
            handlers.get_response,
            "get_response",
            "A stored response.",
            {200: Reply("A stored response.", {JSON: Response})},
            parameters=(RESPONSE_ID,),
            errors=STORED_ERRORS,
        ),
        Route(
            hdrs.METH_DELETE,
            STORED_PATH,
            handlers.delete_response,
            "delete_response",
            "Delete a stored response.",
            {200: Reply("Delete a stored response.", {JSON: ResponseDeleted})},
            parameters=(RESPONSE_ID,),
            errors=STORED_ERRORS,
        ),
    )
