"""The A2A front door's route records: the cards (public) and ``POST /a2a/{agent}``."""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from app.config import AppConfig
from app.contract import errors
from app.contract.openapi import (
    JSON,
    SSE,
    Schema,
    error_headers,
    error_shape,
    path_parameter,
)
from app.contract.routes import Reply, Route

from ._cards import A2A_PREFIX, CARD_PATH, LEGACY_CARD_PATH
from ._view import A2aEndpoint

A2A_KEY: Final = web.AppKey("a2a", A2aEndpoint)


def _jsonrpc_message(
    description: str, id_types: list[str], required: list[str], **members: Schema
) -> Schema:
    """A JSON-RPC 2.0 message: ``jsonrpc``, an ``id`` of ``id_types`` and ``members``."""
    return {
        "type": "object",
        "description": description,
        "required": ["jsonrpc", "id", *required],
        "properties": {"jsonrpc": {"const": "2.0"}, "id": {"type": id_types}, **members},
    }


AGENT_PATH: Final = A2A_PREFIX + "/{agent}"
AGENT = path_parameter("agent", "An agent's name.")
CARD: Final[Schema] = {
    "type": "object",
    "description": "An A2A agent card (A2A 1.0; agent.json: 0.3's shape).",
    "required": ["name", "skills"],
}
JSONRPC_REQUEST: Final = _jsonrpc_message(
    "One A2A JSON-RPC 2.0 request: 1.0 methods (SendMessage, ...) or 0.3's (message/send, ...).",
    ["string", "integer"],
    ["method"],
    method={"type": "string"},
    params={"type": "object"},
)
JSONRPC_RESPONSE: Final[Schema] = {
    "type": "object",
    "description": "A JSON-RPC 2.0 response: a result, or an error with an A2A code.",
    "required": ["jsonrpc", "id"],
}
JSONRPC_ERROR: Final = _jsonrpc_message(
    "A JSON-RPC 2.0 error; before the request is read ``id`` is null and ``data`` holds the"
    " API's ``{type, code}``.",
    ["string", "integer", "null"],
    ["error"],
    error={
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
    },
)
SSE_EVENT: Final[Schema] = {
    "type": "object",
    "description": "`data:` a JSON-RPC response: the task, then status and artifact updates.",
}
_ERRORS: Final = {
    400: "The body is not JSON (-32700).",
    401: "Missing or invalid bearer token (-32000; data.code missing_token or invalid_token).",
    403: "A CORS origin or method not allowed, or an OpenID provider's token lacks a required"
    " scope (-32000; data.code forbidden or insufficient_scope).",
    404: "Unknown agent (-32000; data.code agent_not_found).",
    413: "Body larger than server.max_body_bytes (-32600).",
    415: "The body is not JSON (-32600).",
    429: "Rate limit exceeded (see Retry-After).",
    500: "A bug; details are in the log under the request ID.",
    503: "Overloaded, shutting down, or the task store unreachable (-32000).",
}


def error_response(status: int) -> Schema | None:
    """A JSON-RPC error, except what aiohttp's parser answers below the application (431, and
    malformed HTTP as one branch of 400): None, the API's error shape."""
    if status not in _ERRORS:
        return None
    schema: Schema = JSONRPC_ERROR
    if status == 400:
        schema = {"anyOf": [schema, error_shape([errors.BAD_HTTP_REQUEST])]}
    return {
        "description": _ERRORS[status],
        "headers": error_headers(status, allow="POST.", scope_challenge=False),
        "content": {JSON: {"schema": schema}},
    }


async def post(request: web.Request) -> web.StreamResponse:
    return await request.app[A2A_KEY].post(request)


async def server_card(request: web.Request) -> web.StreamResponse:
    return await request.app[A2A_KEY].server_card(request)


async def agent_card(request: web.Request) -> web.StreamResponse:
    return await request.app[A2A_KEY].agent_card(request)


async def legacy_server_card(request: web.Request) -> web.StreamResponse:
    return await request.app[A2A_KEY].legacy_server_card(request)


async def legacy_agent_card(request: web.Request) -> web.StreamResponse:
    return await request.app[A2A_KEY].legacy_agent_card(request)


def _card(path: str, handler: Handler, operation_id: str, summary: str, agent: bool) -> Route:
    return Route(
        hdrs.METH_GET,
        path,
        handler,
        operation_id,
        summary,
        {200: Reply("The card (ETag; 304 on If-None-Match).", {JSON: CARD})},
        parameters=(AGENT,) if agent else (),
        errors=frozenset({404}) if agent else frozenset(),
        public=True,
    )


def a2a_routes(config: AppConfig) -> tuple[Route, ...]:
    """The cards and ``POST /a2a/{agent}`` (docs/a2a.md); none while A2A is off."""
    if not config.a2a.enabled:
        return ()
    answer = Reply(
        "A JSON-RPC response, or (SendStreamingMessage, SubscribeToTask, message/stream) an"
        " SSE stream of them.",
        {JSON: JSONRPC_RESPONSE, SSE: SSE_EVENT},
    )
    return (
        _card(CARD_PATH, server_card, "get_agent_card", "A2A: the server's agent card.", False),
        _card(
            LEGACY_CARD_PATH,
            legacy_server_card,
            "get_legacy_agent_card",
            "A2A 0.3: the server's agent card.",
            False,
        ),
        _card(
            AGENT_PATH + CARD_PATH,
            agent_card,
            "get_a2a_agent_card",
            "A2A: an agent's card.",
            True,
        ),
        _card(
            AGENT_PATH + LEGACY_CARD_PATH,
            legacy_agent_card,
            "get_legacy_a2a_agent_card",
            "A2A 0.3: an agent's card.",
            True,
        ),
        Route(
            hdrs.METH_POST,
            AGENT_PATH,
            post,
            "post_a2a",
            "A2A JSON-RPC: one request to an agent (docs/a2a.md).",
            {200: answer},
            body=JSONRPC_REQUEST,
            parameters=(AGENT,),
            errors=frozenset({404, 413, 415}),
            agent_run=True,
            may_shed=True,
            error_response=error_response,
        ),
    )
