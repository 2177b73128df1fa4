"""OpenAPI pieces every front door's records and the document share: references to the models'
schemas, the API's error response of a status (its codes from the error catalogue), headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from .errors import STATUS_SUMMARIES, ErrorCode, RetryAfter, codes_of
from .routes import Body, Reply

JSON = "application/json"
SSE = "text/event-stream"
REF_TEMPLATE = "#/components/schemas/{model}"

Schema = dict[str, Any]

REQUEST_ID_HEADER: Schema = {
    "description": "The request's ID (the client's if it was safe, else a generated one).",
    "required": True,
    "schema": {"type": "string"},
}
RETRY_AFTER_HEADER: Schema = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string"},
}
RATE_LIMIT_HEADERS: dict[str, Schema] = {
    "RateLimit-Limit": {
        "description": "Bucket size (the burst); with rate limiting on, on every answer but a"
        " stream's (its headers leave before the request is counted).",
        "schema": {"type": "string"},
    },
    "RateLimit-Remaining": {"description": "Requests left now.", "schema": {"type": "string"}},
    "RateLimit-Reset": {
        "description": "Seconds until the bucket is full.",
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": 'The limit that applied, like `100;w=10;name="requests"`.',
        "schema": {"type": "string"},
    },
}
CHALLENGE_HEADER: Schema = {
    "description": 'Bearer challenge: `Bearer realm="agentsmcp"`, with `error` and'
    " `error_description` when a token was sent; with auth.oauth_discovery also `scope`"
    " and `resource_metadata` (RFC 9728).",
    "required": True,
    "schema": {"type": "string"},
}
SCOPE_CHALLENGE_HEADER: Schema = {
    "description": 'With `insufficient_scope`: `Bearer error="insufficient_scope", scope="…"`.',
    "schema": {"type": "string"},
}


def ref(name: str) -> Schema:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def path_parameter(name: str, description: str, **schema: Any) -> Schema:
    """The path parameter ``{name}``: a string, with ``schema``'s further keywords."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def body_schema(body: Body) -> Schema:
    if isinstance(body, tuple):
        return {"anyOf": [ref(model.__name__) for model in body]}
    if isinstance(body, type) and issubclass(body, BaseModel):
        return ref(body.__name__)
    return dict(body)


def reply_response(reply: Reply, added_headers: Mapping[str, Schema] | None = None) -> Schema:
    """``reply`` as an OpenAPI response; ``added_headers``: those a middleware adds to it."""
    response: Schema = {
        "description": reply.description,
        "headers": {"X-Request-ID": REQUEST_ID_HEADER, **reply.headers, **(added_headers or {})},
    }
    if reply.content:
        response["content"] = {
            media: {"schema": body_schema(body)} for media, body in reply.content.items()
        }
    return response


def error_shape(codes: Iterable[ErrorCode]) -> Schema:
    """The API's error shape, naming the catalogue's ``codes``."""
    names = ", ".join(entry.code for entry in codes)
    return {"allOf": [ref("Error")], "description": "Error `code`s: " + names}


def retry_after_always(status: int) -> bool:
    return any(entry.retry_after is RetryAfter.ALWAYS for entry in codes_of(status))


def error_headers(status: int, *, allow: str, scope_challenge: bool = True) -> Schema:
    """The headers of an error response: the request ID, ``Retry-After`` when the status's codes
    always carry it, the bearer challenge on 401 (and 403), ``Allow`` on 405."""
    headers: Schema = {"X-Request-ID": REQUEST_ID_HEADER}
    if retry_after_always(status):
        headers["Retry-After"] = RETRY_AFTER_HEADER
    if status == 401:
        headers["WWW-Authenticate"] = CHALLENGE_HEADER
    if status == 403 and scope_challenge:
        headers["WWW-Authenticate"] = SCOPE_CHALLENGE_HEADER
    if status == 405:
        headers["Allow"] = {"description": allow, "schema": {"type": "string"}}
    return headers


def error_response(status: int) -> Schema:
    """An error response in the API's shape, as the error middleware renders it."""
    return {
        "description": STATUS_SUMMARIES[status],
        "headers": error_headers(status, allow="Allowed methods."),
        "content": {JSON: {"schema": error_shape(codes_of(status))}},
    }
