"""The JSON-RPC 2.0 plumbing both JSON-RPC front doors (MCP, A2A) share: the standard error
codes, an error answered with an HTTP status, the result and error messages, the request body
read as one JSON document whose failure is a JSON-RPC error, and the endpoint mounted on the app
so that errors raised before its view are JSON-RPC errors too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Final, Protocol, TypeVar

from aiohttp import web

from app.app_keys import ERROR_RENDERERS_KEY
from app.errors import APIError
from app.request_body import read_json

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
# Implementation-defined server errors (-32000 to -32099).
SERVER_ERROR: Final = -32000


@dataclass(eq=False)
class JsonRpcFault(Exception):
    """A JSON-RPC error answered with HTTP ``status`` (200 unless the error precedes the
    message: a body that is not JSON-RPC, an unknown agent) and extra ``headers``."""

    code: int
    message: str
    _: KW_ONLY
    status: int = 200
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def error_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


Fault = TypeVar("Fault", bound=JsonRpcFault)


def error_message(request_id: str | int | None, error: JsonRpcFault) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.error_object()}


def result_message(request_id: str | int | None, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


async def read_message(request: web.Request, fault: type[Fault]) -> Any:
    """The body as JSON; a body that is not JSON (or too large) is the door's ``fault``."""
    try:
        return await read_json(request)
    except APIError as exc:
        code = PARSE_ERROR if exc.status == 400 else INVALID_REQUEST
        raise fault(code, exc.message, status=exc.status) from None


class JsonRpcEndpoint(Protocol):
    def render_error(self, exc: APIError) -> web.Response: ...


Endpoint = TypeVar("Endpoint", bound=JsonRpcEndpoint)


def mount_endpoint(
    app: web.Application,
    key: web.AppKey[Endpoint],
    endpoint: Endpoint,
    path: str,
    cleanup: Callable[[web.Application], AsyncIterator[None]],
) -> None:
    """``endpoint`` kept in ``app[key]``, rendering the errors raised before its view (auth,
    limits, body size) on ``path``, with ``cleanup`` run around the app's life."""
    app[key] = endpoint
    app[ERROR_RENDERERS_KEY][path] = endpoint.render_error
    app.cleanup_ctx.append(cleanup)
