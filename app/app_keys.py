"""Typed keys for state shared on the application and on requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from app.auth import Principal
from app.config import AppConfig, LimitOverride
from app.errors import APIError
from app.observability.metrics import Metrics
from app.server_state import ServerState

CONFIG_KEY = web.AppKey("config", AppConfig)
METRICS_KEY = web.AppKey("metrics", Metrics)
STATE_KEY = web.AppKey("state", ServerState)
# Set when the shutdown timeout expires; streaming handlers should emit a final error and return.
SHUTDOWN_DEADLINE_KEY = web.AppKey("shutdown_deadline", asyncio.Event)
# Path (or a dynamic route's pattern) -> how an error raised before its view (auth, rate limit,
# body size) is rendered there, for protocols whose clients expect their own error body (MCP and
# A2A: a JSON-RPC error).
ERROR_RENDERERS_KEY = web.AppKey("error_renderers", dict[str, Callable[[APIError], web.Response]])

# The authenticated JWT subject of a request (absent on public paths).
SUBJECT_KEY = web.RequestKey("subject", str)
# The authenticated caller of a request: subject, issuer, scopes, claims (absent on public paths
# and while auth is disabled).
PRINCIPAL_KEY = web.RequestKey("principal", Principal)
# Per-subject limits carried by the token (``rate_limit.override_claim``), when it has them.
LIMIT_OVERRIDE_KEY = web.RequestKey("limit_override", LimitOverride)
# The request ID echoed in X-Request-ID and bound to every log line of the request.
REQUEST_ID_KEY = web.RequestKey("request_id", str)
