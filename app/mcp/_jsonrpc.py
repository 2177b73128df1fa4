"""JSON-RPC 2.0 messages of the MCP transport: one message per POST, validated with pydantic.

A client POSTs a request (``id`` and ``method``), a notification (``method`` only) or a response
to a server request (``result`` or ``error``). Anything else, a batch array included (batching
was removed from MCP after 2025-03-26), is an invalid request.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from app.http.jsonrpc import INTERNAL_ERROR as INTERNAL_ERROR
from app.http.jsonrpc import INVALID_PARAMS as INVALID_PARAMS
from app.http.jsonrpc import INVALID_REQUEST as INVALID_REQUEST
from app.http.jsonrpc import METHOD_NOT_FOUND as METHOD_NOT_FOUND
from app.http.jsonrpc import PARSE_ERROR as PARSE_ERROR
from app.http.jsonrpc import SERVER_ERROR as SERVER_ERROR
from app.http.jsonrpc import JsonRpcFault
from app.http.jsonrpc import error_message as error_message
from app.http.jsonrpc import result_message as result_message

# MCP 2026-07-28: a required header is missing or disagrees with the body.
HEADER_MISMATCH: Final = -32020
# MCP 2026-07-28: the requested protocol version is not supported (data: supported, requested).
UNSUPPORTED_VERSION: Final = -32022
# The LSP convention for "the client cancelled this request" (MCP defines none).
REQUEST_CANCELLED: Final = -32800

RequestId = StrictInt | StrictStr

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> str:
    return _dumps(value)


class McpError(JsonRpcFault):
    """A JSON-RPC error of the MCP transport answered with HTTP ``status``."""


def notification_message(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


class _Message(BaseModel):
    # Unknown members are ignored, as JSON-RPC peers generally do.
    model_config = ConfigDict(extra="ignore", frozen=True)

    jsonrpc: Literal["2.0"]


class JsonRpcRequest(_Message):
    """A request: answered with its response (JSON or an SSE stream), never with 202."""

    id: RequestId
    method: StrictStr = Field(min_length=1, examples=["tools/list"])
    params: dict[str, Any] | None = None


class JsonRpcNotification(_Message):
    """A notification (no ``id``): answered 202 without a body."""

    model_config = ConfigDict(json_schema_extra={"not": {"required": ["id"]}})

    method: StrictStr = Field(min_length=1, examples=["notifications/initialized"])
    params: dict[str, Any] | None = None


class JsonRpcClientResponse(_Message):
    """A client's answer to a server request (this server sends none): answered 202."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": ["result"]}, {"required": ["error"]}],
            "not": {"required": ["method"]},
        }
    )

    id: RequestId | None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


# Responses: built as plain dicts; these define their documented shape (app.openapi).


class JsonRpcErrorObject(BaseModel):
    code: int
    message: str
    data: Any = None


class JsonRpcError(BaseModel):
    """A JSON-RPC error. Before the message is read (auth, limits, body size) ``id`` is null and
    ``data`` holds the API's ``{"type", "code"}``."""

    jsonrpc: Literal["2.0"]
    id: RequestId | None
    error: JsonRpcErrorObject


class JsonRpcResult(BaseModel):
    jsonrpc: Literal["2.0"]
    id: RequestId
    result: dict[str, Any]


class McpStreamEvent(BaseModel):
    """One server-sent event of a request's stream: ``event: message``, ``data`` a JSON-RPC
    message (``notifications/progress``, then the response, last). Comment lines are
    keep-alives."""

    event: Literal["message"]
    data: str = Field(json_schema_extra={"contentMediaType": "application/json"})


Message = JsonRpcRequest | JsonRpcNotification | JsonRpcClientResponse


def parse_message(document: Any) -> Message:
    """The JSON-RPC message in a parsed body, or an :class:`McpError` (-32600, HTTP 400)."""
    if isinstance(document, list):
        raise McpError(
            INVALID_REQUEST,
            "Batch requests are not supported: send one JSON-RPC message per POST.",
            status=400,
        )
    if not isinstance(document, dict):
        raise McpError(INVALID_REQUEST, "The body must be one JSON-RPC message object.", status=400)
    model: type[Message]
    if "method" in document:
        model = JsonRpcRequest if "id" in document else JsonRpcNotification
    elif "result" in document or "error" in document:
        model = JsonRpcClientResponse
    else:
        raise McpError(
            INVALID_REQUEST,
            "Not a JSON-RPC message: a request needs 'method' and 'id'.",
            status=400,
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise McpError(INVALID_REQUEST, _problem(exc), status=400) from None


def _problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "message"
    if where == "id":
        return "Invalid JSON-RPC message: 'id' must be a string or an integer."
    if where == "jsonrpc":
        return "Invalid JSON-RPC message: 'jsonrpc' must be \"2.0\"."
    return f"Invalid JSON-RPC message: {where}: {error['msg']}."


def parse_params(model: type[BaseModel], params: dict[str, Any] | None, method: str) -> Any:
    """``params`` validated with ``model``, or -32602 naming the field."""
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "params"
        raise McpError(
            INVALID_PARAMS, f"Invalid params for {method}: {where}: {error['msg']}."
        ) from None
