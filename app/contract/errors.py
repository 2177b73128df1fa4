"""The error catalogue: every ``code`` an error body may carry, with its status, ``type``,
what it means and whether a retry may help.

Errors are raised from it (:class:`app.errors.APIError` subclasses name their entry), the OpenAPI
error responses list its codes, and the error table of docs/http-api.md is rendered from it
(``tests/app/test_error_catalogue.py`` fails on drift either way).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final


class RetryAfter(enum.Enum):
    """Whether the error response carries a ``Retry-After`` header."""

    ALWAYS = "always"
    WHEN_KNOWN = "when known"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    status: int
    type: str
    description: str
    # A later retry of the same request may succeed (for agent failures: the fallback may answer).
    retryable: bool = False
    retry_after: RetryAfter = RetryAfter.NEVER
    # ``http_<status>``: one code per status, for aiohttp errors without a code of their own.
    family: bool = False
    # The message of this code's error class when raised without one (None: its base class's).
    message: str | None = None

    def for_status(self, status: int) -> ErrorCode:
        """The member of a family entry for ``status``."""
        return replace(self, code=f"http_{status}", status=status, family=False)


INVALID = "invalid_request_error"
SERVER = "server_error"

INVALID_JSON: Final = ErrorCode(
    "invalid_json", 400, INVALID, "malformed JSON, invalid UTF-8, nesting too deep"
)
BAD_REQUEST: Final = ErrorCode(
    "bad_request",
    400,
    INVALID,
    "an empty body, or another request the server cannot read",
    message="The request is invalid.",
)
INVALID_FIELD: Final = ErrorCode(
    "invalid_field", 400, INVALID, "an invalid field (`param` names it)"
)
BAD_HTTP_REQUEST: Final = ErrorCode(
    "bad_http_request",
    400,
    INVALID,
    "not valid HTTP/1.1 (a malformed request line, header or chunked body)",
    message="The request is not valid HTTP/1.1.",
)
UNSUPPORTED_PARAMETER: Final = ErrorCode(
    "unsupported_parameter",
    400,
    INVALID,
    "an OpenAI argument the server does not implement (`param` names it)",
)
UNKNOWN_PARAMETER: Final = ErrorCode(
    "unknown_parameter", 400, INVALID, "an argument that is not part of the API (`param` names it)"
)
MISSING_REQUIRED_PARAMETER: Final = ErrorCode(
    "missing_required_parameter",
    400,
    INVALID,
    "a required argument is missing (`param` names it; Responses API)",
)
UNSUPPORTED_TOOL: Final = ErrorCode(
    "unsupported_tool",
    400,
    INVALID,
    "a hosted tool (`web_search`, `file_search`, ...) the server does not run (Responses API)",
)
PREVIOUS_RESPONSE_NOT_FOUND: Final = ErrorCode(
    "previous_response_not_found",
    400,
    INVALID,
    "`previous_response_id` names no stored response of the caller (Responses API)",
)
PROVIDER_INVALID_REQUEST: Final = ErrorCode(
    "provider_invalid_request",
    400,
    INVALID,
    "a request the provider refused as invalid (see [Agent API](#agent-api))",
)
MISSING_TOKEN: Final = ErrorCode(
    "missing_token",
    401,
    "authentication_error",
    "no bearer token (see [Authentication](#authentication))",
)
INVALID_TOKEN: Final = ErrorCode(
    "invalid_token",
    401,
    "authentication_error",
    "an invalid or expired bearer token (see [Authentication](#authentication))",
    message="A valid bearer token is required.",
)
FORBIDDEN: Final = ErrorCode(
    "forbidden",
    403,
    "permission_error",
    "not allowed (a CORS origin or method)",
    message="You are not allowed to perform this request.",
)
INSUFFICIENT_SCOPE: Final = ErrorCode(
    "insufficient_scope",
    403,
    "permission_error",
    "a provider token without a required scope (see [Authentication](#authentication))",
)
AGENT_NOT_FOUND: Final = ErrorCode("agent_not_found", 404, "not_found_error", "unknown agent")
RESPONSE_NOT_FOUND: Final = ErrorCode(
    "response_not_found", 404, "not_found_error", "no stored response of the caller has that id"
)
NOT_FOUND: Final = ErrorCode(
    "not_found",
    404,
    "not_found_error",
    "unknown path or resource",
    message="The requested resource does not exist.",
)
METHOD_NOT_ALLOWED: Final = ErrorCode(
    "method_not_allowed",
    405,
    INVALID,
    "wrong method (with `Allow`)",
    message="The method is not allowed for this resource.",
)
PAYLOAD_TOO_LARGE: Final = ErrorCode(
    "payload_too_large",
    413,
    INVALID,
    "body over `server.max_body_bytes`",
    message="The request body is too large.",
)
UNSUPPORTED_MEDIA_TYPE: Final = ErrorCode(
    "unsupported_media_type",
    415,
    INVALID,
    "a JSON endpoint without `Content-Type: application/json`",
    message="The request body must be JSON (Content-Type: application/json).",
)
RATE_LIMIT_EXCEEDED: Final = ErrorCode(
    "rate_limit_exceeded",
    429,
    "rate_limit_error",
    "a request limit is used up (see [Rate limits](#rate-limits))",
    retryable=True,
    retry_after=RetryAfter.ALWAYS,
    message="Too many requests: slow down and retry after the Retry-After delay.",
)
TOKEN_BUDGET_EXCEEDED: Final = ErrorCode(
    "token_budget_exceeded",
    429,
    "rate_limit_error",
    "a token budget is spent (see [Rate limits](#rate-limits))",
    retryable=True,
    retry_after=RetryAfter.ALWAYS,
)
REQUEST_HEADER_TOO_LARGE: Final = ErrorCode(
    "request_header_too_large",
    431,
    INVALID,
    "a header or the request line is too large, or there are too many headers",
    message="A request header (or the request line) is larger than the server accepts, "
    "or there are too many headers.",
)
INTERNAL_ERROR: Final = ErrorCode(
    "internal_error",
    500,
    SERVER,
    "a bug; details go to the log under the request ID, never to the client",
    message="The server had an error while processing your request.",
)
UPSTREAM_ERROR: Final = ErrorCode(
    "upstream_error",
    502,
    "upstream_error",
    "the provider answered another 4xx or a malformed response",
)
UPSTREAM_AUTH_ERROR: Final = ErrorCode(
    "upstream_auth_error", 502, "upstream_error", "the provider rejected the server's key"
)
UPSTREAM_UNAVAILABLE: Final = ErrorCode(
    "upstream_unavailable",
    502,
    "upstream_error",
    "the provider failed (5xx, 529, connection) after retries",
    retryable=True,
    retry_after=RetryAfter.WHEN_KNOWN,
)
UPSTREAM_RATE_LIMITED: Final = ErrorCode(
    "upstream_rate_limited",
    503,
    "upstream_error",
    "the provider's rate limit, after retries",
    retryable=True,
    retry_after=RetryAfter.ALWAYS,
)
PROVIDER_NOT_CONFIGURED: Final = ErrorCode(
    "provider_not_configured", 503, SERVER, "the agent's provider has no key (development only)"
)
SERVER_OVERLOADED: Final = ErrorCode(
    "server_overloaded",
    503,
    SERVER,
    "more agent requests in flight than `server.max_inflight_runs`",
    retryable=True,
    retry_after=RetryAfter.ALWAYS,
)
SERVER_SHUTTING_DOWN: Final = ErrorCode(
    "server_shutting_down",
    503,
    SERVER,
    "the shutdown timeout expired while the request waited",
    retryable=True,
    message="The server is shutting down; the stream was ended. Retry the request.",
)
RATE_LIMIT_STORE_UNAVAILABLE: Final = ErrorCode(
    "rate_limit_store_unavailable",
    503,
    SERVER,
    "the limits store is unreachable and `rate_limit.on_store_failure` is `closed`",
    retryable=True,
    retry_after=RetryAfter.ALWAYS,
    message="Rate limits cannot be checked right now (the limits store is unreachable). "
    "Retry after the Retry-After delay.",
)
IDENTITY_PROVIDER_UNAVAILABLE: Final = ErrorCode(
    "identity_provider_unavailable",
    503,
    SERVER,
    "the OpenID provider's keys cannot be fetched (`auth.oidc`)",
    retryable=True,
    retry_after=RetryAfter.ALWAYS,
    message="The identity provider's signing keys cannot be fetched, so the token cannot be"
    " verified now; retry shortly.",
)
RESPONSE_STORE_UNAVAILABLE: Final = ErrorCode(
    "response_store_unavailable",
    503,
    SERVER,
    "the shared store of stored responses is unreachable (Responses API)",
    retryable=True,
)
TASK_STORE_UNAVAILABLE: Final = ErrorCode(
    "task_store_unavailable",
    503,
    SERVER,
    "the shared store of A2A tasks is unreachable (A2A)",
    retryable=True,
)
SERVICE_UNAVAILABLE: Final = ErrorCode(
    "service_unavailable",
    503,
    SERVER,
    "a 503 raised by aiohttp",
    retryable=True,
    retry_after=RetryAfter.WHEN_KNOWN,
    message="The service is temporarily unavailable.",
)
UPSTREAM_TIMEOUT: Final = ErrorCode(
    "upstream_timeout",
    504,
    "upstream_error",
    "the agent's `timeout` or the provider request's expired",
    retryable=True,
)
HANDLER_TIMEOUT: Final = ErrorCode(
    "handler_timeout",
    504,
    SERVER,
    "a request handler timed out below the application (aiohttp's own 504)",
    retryable=True,
    message="The server did not finish the request in time.",
)
HTTP_CLIENT_ERROR: Final = ErrorCode(
    "http_<status>", 400, INVALID, "another 4xx raised by aiohttp", family=True
)
HTTP_SERVER_ERROR: Final = ErrorCode(
    "http_<status>", 500, SERVER, "another 5xx raised by aiohttp", family=True
)

# In the order of the docs' table and the OpenAPI error responses: by status.
CATALOGUE: Final[tuple[ErrorCode, ...]] = (
    INVALID_JSON,
    BAD_REQUEST,
    INVALID_FIELD,
    BAD_HTTP_REQUEST,
    UNSUPPORTED_PARAMETER,
    UNKNOWN_PARAMETER,
    MISSING_REQUIRED_PARAMETER,
    UNSUPPORTED_TOOL,
    PREVIOUS_RESPONSE_NOT_FOUND,
    PROVIDER_INVALID_REQUEST,
    MISSING_TOKEN,
    INVALID_TOKEN,
    FORBIDDEN,
    INSUFFICIENT_SCOPE,
    AGENT_NOT_FOUND,
    RESPONSE_NOT_FOUND,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    RATE_LIMIT_EXCEEDED,
    TOKEN_BUDGET_EXCEEDED,
    REQUEST_HEADER_TOO_LARGE,
    INTERNAL_ERROR,
    UPSTREAM_ERROR,
    UPSTREAM_AUTH_ERROR,
    UPSTREAM_UNAVAILABLE,
    UPSTREAM_RATE_LIMITED,
    PROVIDER_NOT_CONFIGURED,
    SERVER_OVERLOADED,
    SERVER_SHUTTING_DOWN,
    RATE_LIMIT_STORE_UNAVAILABLE,
    IDENTITY_PROVIDER_UNAVAILABLE,
    RESPONSE_STORE_UNAVAILABLE,
    TASK_STORE_UNAVAILABLE,
    SERVICE_UNAVAILABLE,
    UPSTREAM_TIMEOUT,
    HANDLER_TIMEOUT,
    HTTP_CLIENT_ERROR,
    HTTP_SERVER_ERROR,
)
BY_CODE: Final[Mapping[str, ErrorCode]] = {
    entry.code: entry for entry in CATALOGUE if not entry.family
}

# What an error response of each status means, whatever its code (the OpenAPI descriptions).
STATUS_SUMMARIES: Final[Mapping[int, str]] = {
    400: "Invalid request: malformed JSON, an invalid, unknown or unsupported field, or a request"
    " the provider refused as invalid (its message, keys removed).",
    401: "Missing or invalid bearer token.",
    403: "CORS origin or method not allowed, or an OpenID provider's token lacks a scope of"
    " auth.oidc.required_scopes (see WWW-Authenticate).",
    404: "Unknown agent or resource.",
    405: "Method not allowed (see the Allow header).",
    413: "Body larger than server.max_body_bytes.",
    415: "The body is not JSON.",
    429: "Rate limit exceeded or token budget spent (see Retry-After and RateLimit-Policy).",
    431: "A header or the request line is too large.",
    500: "A bug; details are in the log under the request ID.",
    502: "The provider failed, rejected the server's key or model, or answered malformed data.",
    503: "The provider is rate limited or not configured, the server is at its limit of agent"
    " runs in flight (server.max_inflight_runs), the server is shutting down, or the limits"
    " store is unreachable with rate_limit.on_store_failure closed, or the OpenID provider's"
    " signing keys cannot be fetched (auth.oidc).",
    504: "The agent's timeout expired (or, rarely, a handler timed out below the application).",
}


def codes_of(status: int) -> tuple[ErrorCode, ...]:
    """The catalogue's codes answered with ``status``, in catalogue order."""
    return tuple(entry for entry in CATALOGUE if entry.status == status and not entry.family)
