"""The OpenAPI 3.1 document served at ``GET /openapi.json``: the JSON schemas of the request and
response models (each front door's, and ``app.http.models``) plus the route table below.

It describes the deployment's routes (``/metrics`` only when metrics are enabled, CORS preflights
only when origins are configured), every request body, response and error shape. It names no
agents and holds nothing from the secrets, so it is a public path by default
(``DEFAULT_PUBLIC_PATHS``). ``tests/reliability`` checks that it lists exactly the router's
routes and fuzzes a live server against it with schemathesis.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app import __version__, mcp, openai_api, responses_api, runs_api
from app.config import AppConfig
from app.http import models as http_models
from app.mcp import MCP_PATH
from app.oauth_discovery import WELL_KNOWN_PATH, metadata_paths

OPENAPI_PATH = "/openapi.json"
JSON = "application/json"
SSE = "text/event-stream"

Schema = dict[str, Any]


REF_TEMPLATE = "#/components/schemas/{model}"


def _ref(name: str) -> Schema:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _error_codes(*codes: str) -> Schema:
    return {"allOf": [_ref("Error")], "description": "Error `code`s: " + ", ".join(codes)}


_ERROR_RESPONSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "400": (
        "Invalid request: malformed JSON, an invalid, unknown or unsupported field, or a request"
        " the provider refused as invalid (its message, keys removed).",
        (
            "invalid_json",
            "bad_request",
            "invalid_field",
            "bad_http_request",
            "unsupported_parameter",
            "unknown_parameter",
            "provider_invalid_request",
        ),
    ),
    "401": ("Missing or invalid bearer token.", ("missing_token", "invalid_token")),
    "403": (
        "CORS origin or method not allowed, or an OpenID provider's token lacks a scope of"
        " auth.oidc.required_scopes (see WWW-Authenticate).",
        ("forbidden", "insufficient_scope"),
    ),
    "404": ("Unknown agent or resource.", ("agent_not_found", "not_found")),
    "405": ("Method not allowed (see the Allow header).", ("method_not_allowed",)),
    "413": ("Body larger than server.max_body_bytes.", ("payload_too_large",)),
    "415": ("The body is not JSON.", ("unsupported_media_type",)),
    "429": (
        "Rate limit exceeded or token budget spent (see Retry-After and RateLimit-Policy).",
        ("rate_limit_exceeded", "token_budget_exceeded"),
    ),
    "431": ("A header or the request line is too large.", ("request_header_too_large",)),
    "500": ("A bug; details are in the log under the request ID.", ("internal_error",)),
    "502": (
        "The provider failed, rejected the server's key or model, or answered malformed data.",
        ("upstream_error", "upstream_auth_error", "upstream_unavailable"),
    ),
    "503": (
        "The provider is rate limited or not configured, the server is at its limit of agent"
        " runs in flight (server.max_inflight_runs), the server is shutting down, or the limits"
        " store is unreachable with rate_limit.on_store_failure closed, or the OpenID provider's"
        " signing keys cannot be fetched (auth.oidc).",
        (
            "upstream_rate_limited",
            "provider_not_configured",
            "server_overloaded",
            "server_shutting_down",
            "rate_limit_store_unavailable",
            "identity_provider_unavailable",
        ),
    ),
    "504": ("The agent's timeout expired.", ("upstream_timeout",)),
}

_REQUEST_ID_HEADER: Schema = {
    "description": "The request's ID (the client's if it was safe, else a generated one).",
    "required": True,
    "schema": {"type": "string"},
}
_RATE_LIMIT_HEADERS: dict[str, Schema] = {
    "RateLimit-Limit": {"description": "Bucket size (the burst).", "schema": {"type": "string"}},
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
_RETRY_AFTER: Schema = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string"},
}


def _error(status: str) -> Schema:
    description, codes = _ERROR_RESPONSES[status]
    headers: dict[str, Schema] = {"X-Request-ID": _REQUEST_ID_HEADER}
    if status in ("429", "503"):
        headers["Retry-After"] = _RETRY_AFTER
    if status == "401":
        headers["WWW-Authenticate"] = {
            "description": 'Bearer challenge: `Bearer realm="agentsmcp"`, with `error` and'
            " `error_description` when a token was sent; with auth.oauth_discovery also `scope`"
            " and `resource_metadata` (RFC 9728).",
            "required": True,
            "schema": {"type": "string"},
        }
    if status == "403":
        headers["WWW-Authenticate"] = {
            "description": 'With `insufficient_scope`: `Bearer error="insufficient_scope",'
            ' scope="…"`.',
            "schema": {"type": "string"},
        }
    if status == "405":
        headers["Allow"] = {"description": "Allowed methods.", "schema": {"type": "string"}}
    return {
        "description": description,
        "headers": headers,
        "content": {JSON: {"schema": _error_codes(*codes)}},
    }


def _ok(description: str, content: dict[str, Schema], **headers: Schema) -> Schema:
    return {
        "description": description,
        "headers": {"X-Request-ID": _REQUEST_ID_HEADER, **headers},
        "content": content,
    }


def _operation(
    summary: str,
    responses: dict[str, Schema],
    errors: tuple[str, ...],
    *,
    public: bool,
    body: Schema | None = None,
    parameters: list[Schema] | None = None,
    operation_id: str,
) -> Schema:
    operation: Schema = {"operationId": operation_id, "summary": summary}
    if public:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    all_errors = set(errors) | {"400", "431", "500"}
    if not public:
        all_errors |= {"401"}
    operation["responses"] = {**responses, **{code: _error(code) for code in sorted(all_errors)}}
    return operation


def _health_operations(
    path: str,
    summary: str,
    ok: Schema,
    errors: tuple[str, ...],
    *,
    public: bool,
    ready: bool = False,
) -> Schema:
    responses: dict[str, Schema] = {"200": _ok(summary, {JSON: {"schema": ok}})}
    if ready:
        responses["503"] = {
            "description": "Not ready: starting, draining or stopping.",
            "headers": {"X-Request-ID": _REQUEST_ID_HEADER, "Retry-After": _RETRY_AFTER},
            "content": {JSON: {"schema": _ref("NotReady")}},
        }
    name = path.strip("/").replace("/", "_")
    return {
        "get": _operation(summary, responses, errors, public=public, operation_id=f"get_{name}")
    }


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


def _preflight(path: str) -> Schema:
    return {
        "operationId": "preflight_"
        + (path.strip("/").replace("/", "_").replace("{", "").replace("}", "") or "root"),
        "summary": "CORS preflight (no token needed).",
        "security": [],
        "responses": {
            "200": {"description": "Allowed: Access-Control-Allow-* headers."},
            "403": _error("403"),
        },
    }


_MCP_ERRORS: dict[str, str] = {
    "400": "Not one valid JSON-RPC message (-32700 parse error, -32600 invalid request, a batch"
    " included), a bad or unsupported MCP-Protocol-Version (-32022), a stateless-era header"
    " that is missing or disagrees with the body (-32020); or malformed HTTP (the API's error"
    " shape, code bad_http_request).",
    "401": "Missing or invalid bearer token (-32000; data.code missing_token or invalid_token).",
    "403": "The Origin header is not one of server.cors_origins (or, for a preflight, a"
    " requested method or header is not allowed).",
    "404": "Stateless era (2026-07-28): unknown method (-32601).",
    "405": "GET and DELETE: no server stream, no session to end (see the Allow header).",
    "406": "The Accept header allows neither application/json nor text/event-stream.",
    "413": "Body larger than server.max_body_bytes.",
    "415": "The body is not JSON.",
    "429": "Rate limit exceeded (see Retry-After).",
    "500": "A bug; details are in the log under the request ID.",
    "503": "The limits store is unreachable with rate_limit.on_store_failure closed.",
}


def _mcp_error(status: str) -> Schema:
    headers: dict[str, Schema] = {"X-Request-ID": _REQUEST_ID_HEADER}
    if status in ("429", "503"):
        headers["Retry-After"] = _RETRY_AFTER
    if status == "401":
        headers["WWW-Authenticate"] = _error("401")["headers"]["WWW-Authenticate"]
    if status == "405":
        headers["Allow"] = {"description": "POST.", "schema": {"type": "string"}}
    schema: Schema = _ref("JsonRpcError")
    if status == "400":
        schema = {"anyOf": [schema, _error_codes("bad_http_request")]}
    return {
        "description": _MCP_ERRORS[status],
        "headers": headers,
        "content": {JSON: {"schema": schema}},
    }


def _mcp_operations(*, public: bool, rate: tuple[str, ...], store_down: tuple[str, ...]) -> Schema:
    """``/mcp`` (docs/mcp.md): errors are JSON-RPC error objects, except what aiohttp's parser
    answers below the application (431 and malformed HTTP)."""
    auth = () if public else ("401",)

    def responses(ok: dict[str, Schema], statuses: tuple[str, ...]) -> dict[str, Schema]:
        errors = {code: _mcp_error(code) for code in sorted({*statuses, *auth, "400", "500"})}
        return {**ok, **errors, "431": _error("431")}

    security: Schema = {"security": []} if public else {}
    post_ok = {
        "200": _ok(
            "The response: one JSON-RPC message, or (tools/call, when the client accepts it) an"
            " SSE stream of progress notifications and keep-alives ending with the response.",
            {
                JSON: {"schema": {"anyOf": [_ref("JsonRpcResult"), _ref("JsonRpcError")]}},
                SSE: {"schema": _ref("McpStreamEvent")},
            },
            **{
                "Mcp-Session-Id": {
                    "description": "Minted on initialize; never required afterwards.",
                    "schema": {"type": "string"},
                }
            },
        ),
        "202": {
            "description": "A notification or a client response: accepted, no body.",
            "headers": {"X-Request-ID": _REQUEST_ID_HEADER},
        },
    }
    post_errors = ("403", "404", "406", "413", "415", *rate, *store_down)
    refused = {"405": _mcp_error("405")}
    operations: Schema = {
        "post": {
            "operationId": "post_mcp",
            "summary": "MCP Streamable HTTP: one JSON-RPC message (docs/mcp.md).",
            **security,
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "anyOf": [
                                _ref("JsonRpcRequest"),
                                _ref("JsonRpcNotification"),
                                _ref("JsonRpcClientResponse"),
                            ]
                        }
                    }
                },
            },
            "responses": responses(post_ok, post_errors),
        }
    }
    for method in ("get", "delete"):
        operations[method] = {
            "operationId": f"{method}_mcp",
            "summary": "Not served (405): MCP messages are POSTed.",
            **security,
            "responses": responses(refused, (*rate, *store_down)),
        }
    return operations


def _responses_paths(
    agent_errors: tuple[str, ...], rate: tuple[str, ...], is_public: Callable[[str], bool]
) -> dict[str, Schema]:
    """The Responses API (app.responses_api, docs/responses.md)."""
    stored = "/v1/responses/{response_id}"
    response_id = {
        "name": "response_id",
        "in": "path",
        "required": True,
        "description": "A stored response's id (resp_...).",
        "schema": {"type": "string"},
    }

    def stored_operation(method: str, summary: str, ok: Schema) -> Schema:
        return _operation(
            summary,
            {"200": _ok(summary, {JSON: {"schema": ok}})},
            ("404", "503", *rate),
            public=is_public(stored),
            parameters=[response_id],
            operation_id=f"{method}_response",
        )

    create = _operation(
        "OpenAI Responses API: a response from an agent.",
        {
            "200": _ok(
                "A response, or SSE typed events with `stream: true`.",
                {JSON: {"schema": _ref("Response")}, SSE: {"schema": _ref("ResponseStreamEvent")}},
            )
        },
        agent_errors,
        public=is_public("/v1/responses"),
        body=_ref("ResponseCreateRequest"),
        operation_id="create_response",
    )
    return {
        "/v1/responses": {"post": create},
        stored: {
            "get": stored_operation("get", "A stored response.", _ref("Response")),
            "delete": stored_operation(
                "delete", "Delete a stored response.", _ref("ResponseDeleted")
            ),
        },
    }


def build_document(config: AppConfig) -> Schema:
    """The OpenAPI 3.1 document of an app built from ``config``."""
    public = set(config.auth.public_paths) if config.auth.enabled else None

    def is_public(path: str) -> bool:
        return public is None or path in public

    rate = ("429",) if config.rate_limit.enabled else ()
    # Probes and scrapes are never rate limited (app.limits.UNLIMITED_PATHS).
    limits = config.rate_limit
    # Fail closed: an authenticated request may get 503 while the limits store is unreachable.
    store_down = (
        ("503",)
        if limits.enabled and limits.backend == "redis" and limits.on_store_failure == "closed"
        else ()
    )
    paths: dict[str, Schema] = {
        path: _health_operations(path, summary, ok, (), public=is_public(path), ready=ready)
        for path, summary, ok, ready in (
            ("/health", "Process health and version.", _ref("Health"), False),
            ("/health/live", "Liveness: the event loop runs.", _ref("Live"), False),
            ("/health/ready", "Readiness: 503 while starting or draining.", _ref("Ready"), True),
        )
    }
    if config.metrics.enabled:
        paths["/metrics"] = {
            "get": _operation(
                "Prometheus metrics.",
                {
                    "200": _ok(
                        "Prometheus text format.", {"text/plain": {"schema": {"type": "string"}}}
                    )
                },
                (),
                public=is_public("/metrics"),
                operation_id="get_metrics",
            )
        }
    paths[OPENAPI_PATH] = {
        "get": _operation(
            "This document.",
            {"200": _ok("OpenAPI 3.1.", {JSON: {"schema": {"type": "object"}}})},
            rate,
            public=is_public(OPENAPI_PATH),
            operation_id="get_openapi",
        )
    }
    paths["/v1/models"] = {
        "get": _operation(
            "Agents as OpenAI models.",
            {
                "200": _ok(
                    "Model list.", {JSON: {"schema": _ref("ModelList")}}, **_RATE_LIMIT_HEADERS
                )
            },
            (*rate, *store_down),
            public=is_public("/v1/models"),
            operation_id="get_models",
        )
    }
    agent_errors = ("404", "413", "415", "502", "503", "504", *rate)
    agent_header = {
        "X-Agentsmcp-Agent": {
            "description": "The agent that answered.",
            "schema": {"type": "string"},
        }
    }
    paths["/v1/chat/completions"] = {
        "post": _operation(
            "OpenAI-compatible chat completion with an agent.",
            {
                "200": _ok(
                    "A chat.completion, or SSE chunks with `stream: true`.",
                    {
                        JSON: {"schema": _ref("ChatCompletion")},
                        SSE: {"schema": _ref("ChatCompletionStreamEvent")},
                    },
                    **agent_header,
                )
            },
            agent_errors,
            public=is_public("/v1/chat/completions"),
            body=_ref("ChatCompletionRequest"),
            operation_id="create_chat_completion",
        )
    }
    paths.update(_responses_paths(agent_errors, rate, is_public))
    paths["/v1/agents"] = {
        "get": _operation(
            "Configured agents (never prompts or keys).",
            {"200": _ok("Agent list.", {JSON: {"schema": _ref("AgentList")}})},
            rate,
            public=is_public("/v1/agents"),
            operation_id="get_agents",
        )
    }
    paths["/v1/agents/{name}/runs"] = {
        "post": _operation(
            "Run an agent (native API).",
            {
                "200": _ok(
                    "A completed run, or SSE run events with `stream: true`.",
                    {JSON: {"schema": _ref("Run")}, SSE: {"schema": _ref("RunStreamEvent")}},
                )
            },
            agent_errors,
            public=is_public("/v1/agents/{name}/runs"),
            body=_ref("RunRequest"),
            parameters=[
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "description": "Agent name (GET /v1/agents).",
                    "schema": {"type": "string", "examples": ["coding"]},
                }
            ],
            operation_id="create_run",
        )
    }
    if config.auth.enabled and config.auth.oidc is not None:
        # Provider tokens: a missing scope is 403, an unreachable provider 503.
        for operations in paths.values():
            for operation in operations.values():
                responses = operation["responses"]
                if "401" in responses:
                    responses.setdefault("403", _error("403"))
                    responses.setdefault("503", _error("503"))
                    operation["responses"] = dict(sorted(responses.items()))
    if config.mcp.enabled:
        paths[MCP_PATH] = _mcp_operations(
            public=is_public(MCP_PATH), rate=rate, store_down=store_down
        )
        if config.auth.enabled and config.auth.oidc is not None:
            for operation in paths[MCP_PATH].values():
                responses = operation["responses"]
                if "401" not in responses:
                    continue
                responses.setdefault("403", _mcp_error("403"))
                responses.setdefault("503", _mcp_error("503"))
                operation["responses"] = dict(sorted(responses.items()))
    for operations in paths.values():
        if "get" in operations:
            operations["head"] = _head_of(operations["get"])
    if config.server.cors_origins:
        for path, operations in paths.items():
            operations["options"] = _preflight(path)
        if MCP_PATH in paths:
            paths[MCP_PATH]["options"]["responses"]["403"] = _mcp_error("403")
    paths.update(_discovery_paths(config))
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
            "securitySchemes": {
                "bearer": {
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
            },
        },
        "security": [{"bearer": []}] if config.auth.enabled else [],
        "paths": paths,
    }


def _discovery_paths(config: AppConfig) -> dict[str, Schema]:
    oidc = config.auth.oidc
    if not (config.auth.enabled and config.auth.oauth_discovery.enabled and oidc is not None):
        return {}
    paths: dict[str, Schema] = {}
    for path in metadata_paths(oidc):
        suffix = path.removeprefix(WELL_KNOWN_PATH).strip("/").replace("/", "_")
        get = _operation(
            "OAuth protected resource metadata (RFC 9728).",
            {
                "200": _ok(
                    "Where to get a token: the resource, its authorization server and scopes.",
                    {JSON: {"schema": {"type": "object"}}},
                )
            },
            (),
            public=True,
            operation_id="get_protected_resource_metadata" + (f"_{suffix}" if suffix else ""),
        )
        paths[path] = {
            "get": get,
            "head": _head_of(get),
            "options": {
                "operationId": "preflight_protected_resource_metadata"
                + (f"_{suffix}" if suffix else ""),
                "summary": "CORS preflight: any origin may read the metadata.",
                "security": [],
                "responses": {"204": {"description": "Access-Control-Allow-* headers."}},
            },
        }
    return paths


def openapi_handler(config: AppConfig) -> Handler:
    """The view of ``GET /openapi.json``: the document is rendered once, at startup."""
    body = json.dumps(build_document(config), separators=(",", ":")).encode()

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type=JSON)

    return openapi
