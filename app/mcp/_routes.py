"""``/mcp``'s route records and how its errors (JSON-RPC error objects) are described."""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs, web
from pydantic import BaseModel

from app.config import AppConfig
from app.contract import errors
from app.contract.openapi import JSON, SSE, Schema, error_headers, error_shape, ref
from app.contract.routes import Reply, Route

from ._jsonrpc import (
    JsonRpcClientResponse,
    JsonRpcError,
    JsonRpcNotification,
    JsonRpcRequest,
    JsonRpcResult,
    McpStreamEvent,
)
from ._protocol import SESSION_HEADER
from ._view import MCP_PATH, McpEndpoint, method_not_allowed

MCP_KEY: Final = web.AppKey("mcp", McpEndpoint)
# The models whose JSON schemas the OpenAPI document (app.openapi) describes /mcp with.
OPENAPI_MODELS: tuple[type[BaseModel], ...] = (
    JsonRpcRequest,
    JsonRpcNotification,
    JsonRpcClientResponse,
    JsonRpcResult,
    JsonRpcError,
    McpStreamEvent,
)

_ERRORS: Final = {
    400: "Not one valid JSON-RPC message (-32700 parse error, -32600 invalid request, a batch"
    " included), a bad or unsupported MCP-Protocol-Version (-32022), a stateless-era header"
    " that is missing or disagrees with the body (-32020); or malformed HTTP (the API's error"
    " shape, code bad_http_request).",
    401: "Missing or invalid bearer token (-32000; data.code missing_token or invalid_token).",
    403: "The Origin header is not one of server.cors_origins (or, for a preflight, a"
    " requested method or header is not allowed).",
    404: "Stateless era (2026-07-28): unknown method (-32601).",
    405: "GET and DELETE: no server stream, no session to end (see the Allow header).",
    406: "The Accept header allows neither application/json nor text/event-stream.",
    413: "Body larger than server.max_body_bytes.",
    415: "The body is not JSON.",
    429: "Rate limit exceeded (see Retry-After).",
    500: "A bug; details are in the log under the request ID.",
    503: "The limits store is unreachable with rate_limit.on_store_failure closed.",
}


def error_response(status: int) -> Schema | None:
    """A JSON-RPC error object, except what aiohttp's parser answers below the application
    (431, and malformed HTTP as one branch of 400): None, the API's error shape."""
    if status not in _ERRORS:
        return None
    headers = error_headers(status, allow="POST.", scope_challenge=False)
    schema: Schema = ref("JsonRpcError")
    if status == 400:
        schema = {"anyOf": [schema, error_shape([errors.BAD_HTTP_REQUEST])]}
    return {
        "description": _ERRORS[status],
        "headers": headers,
        "content": {JSON: {"schema": schema}},
    }


async def post(request: web.Request) -> web.StreamResponse:
    return await request.app[MCP_KEY].post(request)


def _refused(method: str) -> Route:
    return Route(
        method,
        MCP_PATH,
        method_not_allowed,
        f"{method.lower()}_mcp",
        "Not served (405): MCP messages are POSTed.",
        {},
        errors=frozenset({405}),
        error_response=error_response,
    )


def mcp_routes(config: AppConfig) -> tuple[Route, ...]:
    """``POST /mcp`` (docs/mcp.md), and 405 for GET and DELETE; none while MCP is off."""
    if not config.mcp.enabled:
        return ()
    answer = Reply(
        "The response: one JSON-RPC message, or (tools/call, when the client accepts it) an"
        " SSE stream of progress notifications and keep-alives ending with the response.",
        {JSON: (JsonRpcResult, JsonRpcError), SSE: McpStreamEvent},
        {
            SESSION_HEADER: {
                "description": "Minted on initialize; never required afterwards.",
                "schema": {"type": "string"},
            }
        },
    )
    accepted = Reply("A notification or a client response: accepted, no body.")
    messages = (JsonRpcRequest, JsonRpcNotification, JsonRpcClientResponse)
    return (
        Route(
            hdrs.METH_POST,
            MCP_PATH,
            post,
            "post_mcp",
            "MCP Streamable HTTP: one JSON-RPC message (docs/mcp.md).",
            {200: answer, 202: accepted},
            body=messages,
            errors=frozenset({403, 404, 406, 413, 415}),
            agent_run=True,
            error_response=error_response,
        ),
        _refused(hdrs.METH_GET),
        _refused(hdrs.METH_DELETE),
    )
