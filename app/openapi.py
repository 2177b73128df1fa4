"""The OpenAPI 3.1 document served at ``GET /openapi.json``: the JSON schemas of the request and
response models (each front door's, and ``app.http.models``) plus one operation per record of
the route table (app/routes.py), its error responses from the error catalogue
(app/contract/errors.py).

It describes the deployment's routes (``/metrics`` only when metrics are served on the API port,
CORS preflights only when origins are configured), every request body, response and error
shape. It names no agents and holds nothing from the secrets, so it is a public path by default
(``DEFAULT_PUBLIC_PATHS``). ``tests/reliability`` checks that it lists exactly the router's
routes and fuzzes a live server against it with schemathesis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app import __version__, mcp, openai_api, responses_api, runs_api
from app.config import AppConfig
from app.contract.openapi import (
    JSON,
    RATE_LIMIT_HEADERS,
    REF_TEMPLATE,
    Schema,
    body_schema,
    error_response,
    reply_response,
)
from app.contract.paths import OPENAPI_PATH
from app.contract.routes import PathPolicies, Route
from app.http import models as http_models
from app.routes import path_policies, route_table

__all__ = ["OPENAPI_PATH", "build_document", "render_document"]

# Every operation may answer these: the parser's 400 and 431, and a bug's 500.
ANY_REQUEST_ERRORS = frozenset({400, 431, 500})


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    *openai_api.REQUEST_MODELS,
    *runs_api.REQUEST_MODELS,
    *responses_api.REQUEST_MODELS,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    *http_models.OPENAPI_MODELS,
    *openai_api.RESPONSE_MODELS,
    *runs_api.RESPONSE_MODELS,
    *responses_api.RESPONSE_MODELS,
)


def _schemas() -> dict[str, Schema]:
    """Every body's JSON schema, generated from the models that validate requests."""
    _, schemas = models_json_schema(
        [
            (model, "validation")
            for model in (*REQUEST_MODELS, *RESPONSE_MODELS, *mcp.OPENAPI_MODELS)
        ],
        ref_template=REF_TEMPLATE,
    )
    defs: dict[str, Schema] = schemas["$defs"]
    return defs


class _Errors:
    """Which error statuses an operation documents, from its record, its path policy and the
    configuration (auth, rate limits, the limits store, the OpenID provider)."""

    def __init__(self, config: AppConfig, policies: PathPolicies) -> None:
        limits = config.rate_limit
        self._policies = policies
        self._auth = config.auth.enabled
        self._oidc = config.auth.enabled and config.auth.oidc is not None
        self._limited = limits.enabled
        # Fail closed: a request limited in the shared store may get 503 while it is unreachable.
        self._store_closed = (
            limits.enabled and limits.backend == "redis" and limits.on_store_failure == "closed"
        )

    def public(self, route: Route) -> bool:
        return not self._auth or self._policies.declared(route.path).public

    def reply_headers(self, route: Route) -> dict[str, Schema]:
        """What the rate limiter adds to every answer of ``route`` (but a stream's)."""
        return RATE_LIMIT_HEADERS if route.rate_limited and self._limited else {}

    def statuses(self, route: Route) -> set[int]:
        listed_public = self._policies.declared(route.path).public
        statuses = set(ANY_REQUEST_ERRORS | route.errors)
        if not self.public(route):
            statuses.add(401)
            if self._oidc:
                # Provider tokens: a missing scope is 403, an unreachable provider 503.
                statuses |= {403, 503}
        if route.rate_limited and self._limited:
            statuses.add(429)
            if self._store_closed and not listed_public:
                statuses.add(503)
        if route.may_shed:
            statuses.add(503)
        return statuses


def _error_response(route: Route, status: int) -> Schema:
    rendered = route.error_response(status) if route.error_response is not None else None
    return dict(rendered) if rendered is not None else error_response(status)


def _operation(route: Route, errors: _Errors) -> Schema:
    operation: Schema = {"operationId": route.operation_id, "summary": route.summary}
    if errors.public(route):
        operation["security"] = []
    if route.parameters:
        operation["parameters"] = [dict(parameter) for parameter in route.parameters]
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": body_schema(route.body)}},
        }
    responses = {status: _error_response(route, status) for status in errors.statuses(route)}
    limit_headers = errors.reply_headers(route)
    responses |= {
        status: reply_response(reply, limit_headers) for status, reply in route.replies.items()
    }
    operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
    return operation


def _head_of(get: Schema) -> Schema:
    """aiohttp answers HEAD on every GET route: the same responses without a body."""
    responses = {
        status: {key: value for key, value in response.items() if key != "content"}
        for status, response in get["responses"].items()
    }
    return {
        **get,
        "operationId": "head_" + get["operationId"].removeprefix("get_"),
        "responses": responses,
    }


def _preflight(route: Route) -> Schema:
    """aiohttp-cors answers preflights on every path whose view does not (``own_cors``)."""
    name = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    return {
        "operationId": "preflight_" + (name or "root"),
        "summary": "CORS preflight (no token needed).",
        "security": [],
        "responses": {
            "200": {"description": "Allowed: Access-Control-Allow-* headers."},
            "403": _error_response(route, 403),
        },
    }


def _paths(table: Iterable[Route], errors: _Errors, cors: bool) -> dict[str, Schema]:
    paths: dict[str, Schema] = {}
    first: dict[str, Route] = {}
    for route in table:
        if route.served:
            first.setdefault(route.path, route)
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, errors)
    for path, operations in paths.items():
        if "get" in operations:
            operations["head"] = _head_of(operations["get"])
        if cors and not first[path].own_cors:
            operations["options"] = _preflight(first[path])
    return paths


def _bearer_scheme(config: AppConfig) -> Schema:
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "HS256 JWT with exp, sub, iss and aud"
        + (
            ", or an access token of the OpenID provider (auth.oidc)."
            if config.auth.oidc is not None
            else "."
        ),
    }


def build_document(config: AppConfig, table: tuple[Route, ...] | None = None) -> Schema:
    """The OpenAPI 3.1 document of an app built from ``config`` (its route table by default)."""
    table = route_table(config) if table is None else table
    errors = _Errors(config, path_policies(table, config))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentsmcp",
            "version": __version__,
            "description": "LLM agents over OpenAI and Anthropic. Every error has the shape"
            ' `{"error": {"message", "type", "code"}}`.',
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": _bearer_scheme(config)},
        },
        "security": [{"bearer": []}] if config.auth.enabled else [],
        "paths": _paths(table, errors, bool(config.server.cors_origins)),
    }


def render_document(config: AppConfig, table: tuple[Route, ...]) -> bytes:
    """The body ``GET /openapi.json`` serves, rendered once when the app is built."""
    return json.dumps(build_document(config, table), separators=(",", ":")).encode()
