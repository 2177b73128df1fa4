"""The middleware chain, outermost first (see :func:`build_middlewares`).

0. tracing (only when on): the request's server span, current for everything below.
1. request ID: every later log line (access log included) carries it, and every response echoes it.
2. access log + metrics: measures the whole request, including the rendered error responses.
3. errors: turns any exception below into the OpenAI error shape, so 401/413/429 look the same.
4. auth: deny by default; public paths pass through.
5. rate limit: keyed by the authenticated subject, so it must come after auth. Probes and scrapes
   are never limited: a throttled probe restarts or unroutes a healthy pod.

Auth and rate limit take a request's path policy from the route table (app/routes.py).
6. body size: rejects declared oversized bodies before a handler reads them.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from pydantic import SecretStr

from app.app_keys import (
    ERROR_RENDERERS_KEY,
    LIMIT_OVERRIDE_KEY,
    METRICS_KEY,
    PRINCIPAL_KEY,
    REQUEST_ID_KEY,
    STATE_KEY,
    SUBJECT_KEY,
)
from app.auth import TokenVerifier, bearer_token
from app.config import MIN_PRODUCTION_SECRET_BYTES, AppConfig
from app.contract.routes import PathPolicies
from app.errors import (
    APIError,
    InternalServerError,
    PayloadTooLargeError,
    from_http_exception,
)
from app.limits import make_rate_limit_middleware
from app.oauth_discovery import challenge_for
from app.observability import tracing
from app.observability.metrics import UNMATCHED_ROUTE
from app.oidc import OIDC_VERIFIER_KEY
from app.secret_files import RotatingSecret

REQUEST_ID_HEADER = "X-Request-ID"
SERVER_NAME = "agentsmcp"
# nginx's convention for "the client went away before the response was sent".
CLIENT_CLOSED_REQUEST = 499
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")

access_logger = structlog.get_logger("agentsmcp.access")
error_logger = structlog.get_logger("agentsmcp.errors")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _SAFE_REQUEST_ID.fullmatch(incoming) and incoming.isascii():
        request_id = incoming
    else:
        request_id = uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    # Keep-alive connections reuse one task, so context from an earlier request must not leak.
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        return await handler(request)
    finally:
        structlog.contextvars.clear_contextvars()


async def set_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every response, streams prepared by handlers included."""
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    # aiohttp would announce its and Python's exact versions.
    response.headers[hdrs.SERVER] = SERVER_NAME
    if request.app[STATE_KEY].not_ready_reason is not None:
        # Draining: send keep-alive clients elsewhere instead of reusing this connection.
        # Headers are computed before this hook runs, so the header is set here as well.
        response.force_close()
        response.headers[hdrs.CONNECTION] = "close"


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


class Outcome:
    """The status a request ended with (500 until the handler answers), as the access log and
    the request's span record it."""

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 500

    async def respond(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.status = exc.status
            raise
        except asyncio.CancelledError:
            self.status = CLIENT_CLOSED_REQUEST
            raise
        self.status = response.status
        return response


def make_access_log_middleware(enable_metrics: bool) -> Middleware:
    @web.middleware
    async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        app = request.app
        metrics = app[METRICS_KEY]
        state = app[STATE_KEY]
        state.request_started()
        metrics.in_flight.inc()
        started = time.perf_counter()
        outcome = Outcome()
        try:
            return await outcome.respond(request, handler)
        finally:
            status = outcome.status
            duration = time.perf_counter() - started
            metrics.in_flight.dec()
            state.request_finished()
            route = _route_of(request)
            if enable_metrics:
                metrics.observe_request(request.method, route, status, duration)
            access_logger.info(
                "request",
                method=request.method,
                route=route,
                path=request.path,
                status=status,
                duration_ms=round(duration * 1000, 3),
                subject=request.get(SUBJECT_KEY),
            )

    return access_log_middleware


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except APIError as exc:
        return _render(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _render(request, from_http_exception(exc))
    except Exception:
        # The traceback goes to the log under the request ID; the client learns nothing internal.
        error_logger.exception("unhandled error", method=request.method, path=request.path)
        return _render(request, InternalServerError())


def _render(request: web.Request, exc: APIError) -> web.Response:
    # A refusal (rate limit, budget, shedding) or failure, on the request's span.
    tracing.record_error(exc.code)
    renderers = request.app.get(ERROR_RENDERERS_KEY, {})
    renderer = renderers.get(request.path)
    if renderer is None and renderers:
        # A dynamic route's renderer is registered on its pattern (/a2a/{agent}).
        resource = request.match_info.route.resource
        renderer = renderers.get(resource.canonical) if resource is not None else None
    return exc.to_response() if renderer is None else renderer(exc)


def _is_cors_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


def jwt_keys(config: AppConfig) -> Callable[[], tuple[str, ...]]:
    """The keys tokens may be signed with: the current one, then the previous one while it is
    set. File-backed keys are re-read (see app/secret_files.py); a current key whose file goes
    missing, empty, or (in production) too short is ignored and the last good one kept."""

    def initial(secret: SecretStr | None) -> str | None:
        return secret.get_secret_value() if secret else None

    refresh = config.server.secrets_refresh_seconds
    files = config.secret_files
    current = RotatingSecret(files.get("JWT_SECRET_KEY"), initial(config.jwt_secret_key), refresh)
    previous = RotatingSecret(
        files.get("JWT_PREVIOUS_SECRET_KEY"), initial(config.jwt_previous_secret_key), refresh
    )
    minimum = MIN_PRODUCTION_SECRET_BYTES if config.environment == "production" else 1
    last_good = initial(config.jwt_secret_key) or ""
    last_seen: str | None = last_good

    def keys() -> tuple[str, ...]:
        nonlocal last_good, last_seen
        value = current.value()
        if value and len(value.encode()) >= minimum:
            last_good = value
        elif value != last_seen:
            error_logger.error("ignoring an unusable JWT_SECRET_KEY; keeping the last good key")
        last_seen = value
        old = previous.value()
        if old and old != last_good:
            return (last_good, old)
        return (last_good,)

    return keys


def make_auth_middleware(config: AppConfig, policies: PathPolicies) -> Middleware | None:
    """HS256 tokens of this server, and (with ``auth.oidc``) the OpenID provider's tokens, told
    apart by their header's algorithm; the provider's tokens must also carry the required scopes."""
    if not config.auth.enabled:
        return None
    override_claim = config.rate_limit.override_claim if config.rate_limit.enabled else None
    challenge = challenge_for(config.auth)
    verifier = TokenVerifier(
        config.auth, jwt_keys(config), override_claim=override_claim, challenge=challenge
    )
    required_scopes = tuple(config.auth.oidc.required_scopes) if config.auth.oidc else ()

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Browsers send CORS preflights without credentials; aiohttp-cors answers them.
        if policies.of(request).public or _is_cors_preflight(request):
            return await handler(request)
        token = bearer_token(request.headers.get(hdrs.AUTHORIZATION), challenge)
        # config_dict: also found from a sub-application (request.app is then the sub-app).
        oidc = request.config_dict.get(OIDC_VERIFIER_KEY)
        header = oidc.header_of(token) if oidc is not None else None
        if oidc is not None and header is not None:
            principal = await oidc.principal(token, header)
            if principal.missing_scopes(required_scopes):
                raise challenge.insufficient_scope(required_scopes)
        else:
            principal = verifier.principal(token)
        request[SUBJECT_KEY] = principal.subject
        request[PRINCIPAL_KEY] = principal
        if principal.limits is not None:
            request[LIMIT_OVERRIDE_KEY] = principal.limits
        return await handler(request)

    return auth_middleware


def make_body_size_middleware(max_body_bytes: int) -> Middleware:
    @web.middleware
    async def body_size_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > max_body_bytes:
            raise PayloadTooLargeError(f"The request body is larger than {max_body_bytes} bytes.")
        return await handler(request)

    return body_size_middleware


def make_tracing_middleware(policies: PathPolicies) -> Middleware | None:
    """One HTTP server span per request, continuing the caller's ``traceparent`` (none for
    probes and scrapes); None when tracing is off."""
    if not tracing.enabled():
        return None

    @web.middleware
    async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if policies.is_probe(request):
            return await handler(request)
        route = _route_of(request)
        span = tracing.start_span(
            f"{request.method} {route}",
            {"http.request.method": request.method, "http.route": route, "url.path": request.path},
            kind="SERVER",
            parent=tracing.extract(request.headers),
        )
        assert span is not None
        outcome = Outcome()
        try:
            with tracing.current(span):
                return await outcome.respond(request, handler)
        finally:
            status = outcome.status
            span.set_attribute("http.response.status_code", status)
            error = None
            if status >= 500:
                # The API error's code when the error middleware recorded one.
                recorded = getattr(span, "attributes", None) or {}
                error = str(recorded.get("error.type") or status)
            tracing.end_span(span, error)

    return tracing_middleware


def build_middlewares(config: AppConfig, policies: PathPolicies) -> list[Middleware]:
    chain: list[Middleware | None] = [
        make_tracing_middleware(policies),
        request_id_middleware,
        make_access_log_middleware(config.metrics.enabled),
        error_middleware,
        make_auth_middleware(config, policies),
        make_rate_limit_middleware(config, policies),
        make_body_size_middleware(config.server.max_body_bytes),
    ]
    return [middleware for middleware in chain if middleware is not None]
