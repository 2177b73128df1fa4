"""The core's route records: health probes, metrics, the OpenAPI document and the OAuth protected
resource metadata. Front doors declare theirs in their own packages; app/routes.py assembles
the table."""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

from app import health_views
from app.config import AppConfig, OidcSettings
from app.contract.openapi import JSON, RETRY_AFTER_HEADER
from app.contract.paths import (
    HEALTH_PATH,
    LIVE_PATH,
    METRICS_PATH,
    OPENAPI_PATH,
    READY_PATH,
    WELL_KNOWN_PATH,
)
from app.contract.routes import PathPolicy, Reply, Route
from app.http.models import Health, Live, NotReady, Ready
from app.oauth_discovery import metadata_paths, metadata_view, preflight, served_oidc
from app.observability import exposition

# The rendered OpenAPI document (app.openapi), set when the app is built.
OPENAPI_DOCUMENT_KEY: Final = web.AppKey("openapi_document", bytes)
# Every path under the metadata's is public and never rate limited, served or not (a 404, not a
# 401, while discovery is off).
UNDECLARED_PREFIXES: Final = {WELL_KNOWN_PATH: PathPolicy(public=True, rate_limited=False)}


async def openapi_document(request: web.Request) -> web.StreamResponse:
    return web.Response(body=request.app[OPENAPI_DOCUMENT_KEY], content_type=JSON)


def _probe(path: str, handler: Handler, summary: str, ok: type[BaseModel]) -> Route:
    return Route(
        hdrs.METH_GET,
        path,
        handler,
        "get_" + path.strip("/").replace("/", "_"),
        summary,
        {200: Reply(summary, {JSON: ok})},
        probe=True,
        rate_limited=False,
    )


def metrics_route(*, served: bool = True) -> Route:
    """``GET /metrics``; on the API port only while metrics are on and have no port of their own
    (app.server.create_metrics_app serves it there)."""
    return Route(
        hdrs.METH_GET,
        METRICS_PATH,
        exposition.metrics,
        "get_metrics",
        "Prometheus metrics.",
        {200: Reply("Prometheus text format.", {"text/plain": {"type": "string"}})},
        probe=True,
        rate_limited=False,
        served=served,
    )


def _health_routes() -> tuple[Route, ...]:
    ready = "Readiness: 503 while starting or draining."
    return (
        _probe(HEALTH_PATH, health_views.health, "Process health and version.", Health),
        _probe(LIVE_PATH, health_views.live, "Liveness: the event loop runs.", Live),
        Route(
            hdrs.METH_GET,
            READY_PATH,
            health_views.ready,
            "get_health_ready",
            ready,
            {
                200: Reply(ready, {JSON: Ready}),
                503: Reply(
                    "Not ready: starting, draining or stopping.",
                    {JSON: NotReady},
                    {"Retry-After": RETRY_AFTER_HEADER},
                ),
            },
            probe=True,
            rate_limited=False,
        ),
    )


def _metadata_route(method: str, path: str, handler: Handler, name: str, reply: Reply) -> Route:
    return Route(
        method,
        path,
        handler,
        name,
        "OAuth protected resource metadata (RFC 9728)."
        if method == hdrs.METH_GET
        else "CORS preflight: any origin may read the metadata.",
        {204 if method == hdrs.METH_OPTIONS else 200: reply},
        public=True,
        rate_limited=False,
        own_cors=True,
    )


def _metadata_routes(oidc: OidcSettings) -> tuple[Route, ...]:
    view = metadata_view(oidc)
    document = Reply(
        "Where to get a token: the resource, its authorization server and scopes.",
        {JSON: {"type": "object"}},
    )
    routes: list[Route] = []
    for path in metadata_paths(oidc):
        suffix = path.removeprefix(WELL_KNOWN_PATH).strip("/").replace("/", "_")
        name = "protected_resource_metadata" + (f"_{suffix}" if suffix else "")
        routes.append(_metadata_route(hdrs.METH_GET, path, view, "get_" + name, document))
        routes.append(
            _metadata_route(
                hdrs.METH_OPTIONS,
                path,
                preflight,
                "preflight_" + name,
                Reply("Access-Control-Allow-* headers."),
            )
        )
    return tuple(routes)


def core_routes(config: AppConfig) -> tuple[Route, ...]:
    metrics = config.metrics
    oidc = served_oidc(config)
    return (
        *_health_routes(),
        metrics_route(served=metrics.enabled and metrics.port is None),
        Route(
            hdrs.METH_GET,
            OPENAPI_PATH,
            openapi_document,
            "get_openapi",
            "This document.",
            {200: Reply("OpenAPI 3.1.", {JSON: {"type": "object"}})},
        ),
        *(_metadata_routes(oidc) if oidc is not None else ()),
    )
