"""Agent failures as API errors, and the classification of provider failures into them.

Messages never carry keys or provider internals: provider request errors (4xx) pass on the
provider's own message, everything else gets a fixed description.
"""

from __future__ import annotations

import math
from typing import Any

from app.contract import errors
from app.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError
from app.providers import ErrorKind, ProviderError


class AgentNotFoundError(NotFoundError):
    error = errors.AGENT_NOT_FOUND
    # Why, for the audit trail and metrics only: the client sees the same error either way.
    reason: str = "unknown_agent"


def unknown_agent(name: str, reason: str = "unknown_agent") -> AgentNotFoundError:
    """The error for an agent the caller cannot use, whether it does not exist or is forbidden:
    one message, status and body, so an agent's existence does not leak."""
    # Agent names have at most 64 characters: never echo a longer one in full.
    shown = repr(name) if len(name) <= 64 else f"{name[:64]!r}..."
    error = AgentNotFoundError(f"No agent named {shown}. GET /v1/agents lists them.")
    error.reason = reason
    return error


class ProviderNotConfiguredError(ServiceUnavailableError):
    error = errors.PROVIDER_NOT_CONFIGURED


class UpstreamError(APIError):
    """A failed upstream call. ``retryable`` errors let an agent's fallback answer instead."""

    error = errors.UPSTREAM_ERROR


class ProviderRequestError(BadRequestError):
    """The provider refused the request as invalid (context too long, a bad parameter): the
    client's mistake, so a 400 with the provider's message, never a fallback."""

    error = errors.PROVIDER_INVALID_REQUEST

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["param"] = None
        return body


# Provider statuses that mean "this request is invalid" rather than "our setup is wrong"
# (a 404 for an unknown configured model is the operator's problem: 502).
CLIENT_REQUEST_STATUSES = frozenset({400, 413, 422})


class UpstreamAuthError(UpstreamError):
    error = errors.UPSTREAM_AUTH_ERROR


class UpstreamUnavailableError(UpstreamError):
    error = errors.UPSTREAM_UNAVAILABLE


class UpstreamRateLimitError(UpstreamError):
    error = errors.UPSTREAM_RATE_LIMITED


class UpstreamTimeoutError(UpstreamError):
    error = errors.UPSTREAM_TIMEOUT


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def from_provider_error(exc: ProviderError, agent: str) -> UpstreamError | ProviderRequestError:
    provider = exc.provider
    if exc.kind is ErrorKind.REQUEST and (
        exc.status is None or exc.status in CLIENT_REQUEST_STATUSES
    ):
        return ProviderRequestError(
            f"Agent {agent!r}: {provider} rejected the request: {exc.message}"
        )
    if exc.kind is ErrorKind.AUTH:
        return UpstreamAuthError(
            f"Agent {agent!r}: the {provider} provider rejected the server's credentials."
        )
    if exc.kind is ErrorKind.REQUEST:
        return UpstreamError(f"Agent {agent!r}: {provider} rejected the request: {exc.message}")
    if exc.kind is ErrorKind.RATE_LIMIT:
        return UpstreamRateLimitError(
            f"Agent {agent!r}: the {provider} rate limit is exhausted; retry later.",
            headers=_retry_after(exc.retry_after if exc.retry_after is not None else 1.0),
        )
    if exc.kind is ErrorKind.TIMEOUT:
        return UpstreamTimeoutError(f"Agent {agent!r}: the {provider} request timed out.")
    if exc.kind is ErrorKind.BAD_RESPONSE:
        return UpstreamError(f"Agent {agent!r}: {provider} returned a malformed response.")
    return UpstreamUnavailableError(
        f"Agent {agent!r}: {exc.message}.", headers=_retry_after(exc.retry_after)
    )


def timeout_error(agent: str, seconds: float) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(f"Agent {agent!r} did not finish within its {seconds:g}s timeout.")
