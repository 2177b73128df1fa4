"""Provider failures, classified once so that agents never look at SDK exception types."""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Mapping
from enum import StrEnum

import aiohttp


class ErrorKind(StrEnum):
    AUTH = "auth"  # 401/403: our key is wrong or lacks access
    REQUEST = "request"  # other 4xx: the provider rejected the request
    RATE_LIMIT = "rate_limit"  # 429 once the SDK's retries are exhausted
    OVERLOADED = "overloaded"  # 5xx, 529, 408, 409
    CONNECTION = "connection"  # connect failure, reset or a stream cut short
    TIMEOUT = "timeout"  # the SDK's own request timeout
    BAD_RESPONSE = "bad_response"  # a body or event that is not the provider's format


RETRYABLE = frozenset(
    {ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED, ErrorKind.CONNECTION, ErrorKind.TIMEOUT}
)


class ProviderError(Exception):
    """A failed provider call. ``message`` is safe to show to API clients: it is the provider's
    own error message for request errors and a generic description otherwise."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.provider = provider
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-*]{4,}")


def is_timeout(exc: BaseException) -> bool:
    """Whether an SDK timeout error really was a timeout.

    The SDKs' aiohttp transport reports every aiohttp connection error (refused, reset before
    the response...) as a connect timeout; the original exception in the cause chain tells.
    """
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None:
            break
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
            cause, aiohttp.ServerTimeoutError
        ):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def redact(text: str, secret: str | None) -> str:
    """Remove our key, and anything shaped like a provider key, from a provider message."""
    if secret:
        text = text.replace(secret, "[redacted]")
    redacted: str = _KEY_PATTERN.sub(r"\1[redacted]", text)
    return redacted


def provider_message(body: object) -> str | None:
    """The human-readable message in an OpenAI- or Anthropic-style error body."""
    message = _error_field(body, "message")
    return message if isinstance(message, str) and message else None


def error_type(body: object) -> str | None:
    kind = _error_field(body, "type")
    return kind if isinstance(kind, str) else None


def _error_field(body: object, name: str) -> object:
    """A field of an error body: ``{"error": {name: ...}}`` or ``{name: ...}``."""
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error")
    return (inner if isinstance(inner, Mapping) else body).get(name)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), as the SDKs read them."""
    value = headers.get("retry-after-ms")
    if value is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def status_error(
    provider: str,
    status: int,
    body: object,
    headers: Mapping[str, str],
    secret: str | None,
) -> ProviderError:
    """Classify an HTTP error status returned by a provider once the SDK gave up retrying."""
    if status in (401, 403):
        return ProviderError(
            ErrorKind.AUTH,
            f"{provider} rejected the server's credentials",
            provider=provider,
            status=status,
        )
    if status == 429:
        kind, message = ErrorKind.RATE_LIMIT, f"{provider} rate limit exceeded"
    elif status in (408, 409) or status >= 500:
        kind, message = ErrorKind.OVERLOADED, f"{provider} is unavailable (HTTP {status})"
    else:
        message = provider_message(body) or f"{provider} rejected the request (HTTP {status})"
        return ProviderError(
            ErrorKind.REQUEST, redact(message, secret), provider=provider, status=status
        )
    return ProviderError(
        kind, message, provider=provider, status=status, retry_after=retry_after_seconds(headers)
    )


# An error event inside a 200 stream carries its kind only in the body.
_STREAM_ERROR_TYPES = {
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "authentication_error": 401,
    "permission_error": 403,
}


def stream_error(provider: str, body: object, secret: str | None) -> ProviderError:
    status = _STREAM_ERROR_TYPES.get(error_type(body) or "", 400)
    return status_error(provider, status, body, {}, secret)


def unfinished_stream_error(provider: str, content_type: str | None, what: str) -> ProviderError:
    """A stream that ended before its final event. Over server-sent events that is a connection
    cut short (retryable); a 200 answer in another format (a JSON body, say) is a malformed
    response, like a malformed non-streaming body."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "text/event-stream":
        return ProviderError(
            ErrorKind.CONNECTION, f"{provider} stream ended before {what}", provider=provider
        )
    return ProviderError(
        ErrorKind.BAD_RESPONSE,
        f"{provider} answered a streaming request with {media_type[:64] or 'no content type'},"
        " not server-sent events",
        provider=provider,
    )
