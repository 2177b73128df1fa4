"""Every error response in the OpenAI shape: ``{"error": {"message", "type", "code"}}``.

Handlers raise an :class:`APIError` subclass; the error middleware renders it. aiohttp's own
``HTTPException``\\s (404, 405, 413 from the router or the body reader) are converted with
:func:`from_http_exception`, and any other exception becomes a generic 500 that leaks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from app.contract import errors
from app.contract.errors import ErrorCode

JSON_CONTENT_TYPE = "application/json"


class APIError(Exception):
    """An error with an HTTP status and an OpenAI-style ``type``/``code``, from the catalogue
    entry ``error`` (or the ``code`` entry given when raised). Its default message is the
    entry's, or its base class's when the entry has none."""

    error: ClassVar[ErrorCode] = errors.INTERNAL_ERROR
    default_message: str = error.message or ""
    status: int = error.status
    type: str = error.type
    default_code: str = error.code

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status, cls.type, cls.default_code = cls.error.status, cls.error.type, cls.error.code
        if cls.error.message is not None and "default_message" not in cls.__dict__:
            cls.default_message = cls.error.message

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        entry = code or self.error
        self.status, self.type, self.code = entry.status, entry.type, entry.code
        # A later retry may succeed; for an agent's failure, its fallback may answer.
        self.retryable = entry.retryable
        self.message = message or self.default_message
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
    error = errors.BAD_REQUEST


class AuthenticationError(APIError):
    error = errors.INVALID_TOKEN


class PermissionDeniedError(APIError):
    error = errors.FORBIDDEN


class NotFoundError(APIError):
    error = errors.NOT_FOUND


class MethodNotAllowedError(APIError):
    error = errors.METHOD_NOT_ALLOWED


class PayloadTooLargeError(APIError):
    error = errors.PAYLOAD_TOO_LARGE


class UnsupportedMediaTypeError(APIError):
    error = errors.UNSUPPORTED_MEDIA_TYPE


class RateLimitError(APIError):
    error = errors.RATE_LIMIT_EXCEEDED


class InternalServerError(APIError):
    error = errors.INTERNAL_ERROR


class ServiceUnavailableError(APIError):
    error = errors.SERVICE_UNAVAILABLE


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
        family = errors.HTTP_CLIENT_ERROR if exc.status < 500 else errors.HTTP_SERVER_ERROR
        return cls(exc.reason, code=family.for_status(exc.status), headers=headers)
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
