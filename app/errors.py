"""Every error response in the OpenAI shape: ``{"error": {"message", "type", "code"}}``.

Handlers raise an :class:`APIError` subclass; the error middleware renders it. aiohttp's own
``HTTPException``\\s (404, 405, 413 from the router or the body reader) are converted with
:func:`from_http_exception`, and any other exception becomes a generic 500 that leaks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

JSON_CONTENT_TYPE = "application/json"


class APIError(Exception):
    """An error with an HTTP status and an OpenAI-style ``type``/``code``."""

    status: int = 500
    type: str = "server_error"
    default_code: str = "internal_error"
    default_message: str = "The server had an error while processing your request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}

    def to_response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=json.dumps(self.body()).encode(),
            content_type=JSON_CONTENT_TYPE,
            headers=self.headers,
        )


class BadRequestError(APIError):
    status = 400
    type = "invalid_request_error"
    default_code = "bad_request"
    default_message = "The request is invalid."


class AuthenticationError(APIError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_token"
    default_message = "A valid bearer token is required."


class PermissionDeniedError(APIError):
    status = 403
    type = "permission_error"
    default_code = "forbidden"
    default_message = "You are not allowed to perform this request."


class NotFoundError(APIError):
    status = 404
    type = "not_found_error"
    default_code = "not_found"
    default_message = "The requested resource does not exist."


class MethodNotAllowedError(APIError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"
    default_message = "The method is not allowed for this resource."


class PayloadTooLargeError(APIError):
    status = 413
    type = "invalid_request_error"
    default_code = "payload_too_large"
    default_message = "The request body is too large."


class UnsupportedMediaTypeError(APIError):
    status = 415
    type = "invalid_request_error"
    default_code = "unsupported_media_type"
    default_message = "The request body must be JSON (Content-Type: application/json)."


class RateLimitError(APIError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    default_message = "Too many requests: slow down and retry after the Retry-After delay."


class InternalServerError(APIError):
    pass


class ServiceUnavailableError(APIError):
    status = 503
    type = "server_error"
    default_code = "service_unavailable"
    default_message = "The service is temporarily unavailable."


_BY_STATUS: dict[int, type[APIError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        MethodNotAllowedError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        RateLimitError,
        InternalServerError,
        ServiceUnavailableError,
    )
}

# Headers of an aiohttp HTTPException worth keeping on the JSON error (e.g. Allow on a 405).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def from_http_exception(exc: web.HTTPException) -> APIError:
    """Convert an aiohttp HTTP error (raised by the router, the body reader...) to an APIError."""
    cls = _BY_STATUS.get(exc.status)
    headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    if cls is None:
        cls = BadRequestError if exc.status < 500 else InternalServerError
        return cls(exc.reason, code=f"http_{exc.status}", headers=headers, status=exc.status)
    message = None
    if exc.status < 500 and exc.text and exc.text != f"{exc.status}: {exc.reason}":
        # A message the raiser chose on purpose (5xx texts are never shown: they may leak).
        message = exc.text
    elif cls is MethodNotAllowedError:
        method = exc.method if isinstance(exc, web.HTTPMethodNotAllowed) else "this method"
        message = f"Method {method} is not allowed here."
    elif cls is PayloadTooLargeError:
        message = "The request body is larger than the server accepts."
    return cls(message, headers=headers)
