"""``GET /openapi.json``: it lists exactly the router's routes, and a live server conforms to it
under schemathesis (bounded examples, fixed seed, a valid token, fake upstreams)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import hypothesis
import jsonschema_rs
import pydantic
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from app.a2a_api import AGENT_PATH as A2A_PATH
from app.a2a_api.routes import JSONRPC_ERROR
from app.config import AppConfig, parse_config
from app.mcp import MCP_PATH
from app.openapi import OPENAPI_PATH, build_document
from app.server import create_app
from tests.app.conftest import make_config, make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import JWT_SECRET, agent_config

from ._process import ServerProcess, fake_upstreams, get, running_server, server_config
from .conftest import serve_app

FUZZ_SEED = 20261124
FUZZ_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def router_routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }


def document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


CONFIGS = {
    "default": {},
    "metrics off": {"metrics": {"enabled": False}},
    "cors on": {"server": {"cors_origins": ["https://app.example.com"]}},
    "auth off": {"auth": {"enabled": False}},
    "oidc and oauth discovery": {
        "auth": {
            "oidc": {"issuer": "https://idp.example.com", "audience": "https://a.example.com/mcp"},
            "oauth_discovery": {"enabled": True},
        },
        "server": {"cors_origins": ["https://app.example.com"]},
    },
}


@pytest.mark.parametrize("sections", CONFIGS.values(), ids=CONFIGS.keys())
def test_document_lists_exactly_the_routes_of_the_router(
    fake_config: AppConfig, sections: dict[str, Any]
) -> None:
    data = fake_config.model_dump(mode="json") | sections
    data["jwt_secret_key"] = "x" * 40
    data["openai_api_key"] = data["anthropic_api_key"] = "k"
    config = AppConfig.model_validate(data)
    app = create_app(config)
    document = build_document(config)
    assert document_routes(document) == router_routes(app)
    assert document["openapi"] == "3.1.0"
    operation_ids = [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


@pytest.mark.parametrize("sections", CONFIGS.values(), ids=CONFIGS.keys())
def test_document_is_valid_openapi_3_1(sections: dict[str, Any]) -> None:
    # The OpenAPI 3.1 meta-schema as schemathesis ships it (pinned in requirements-dev.txt).
    OPENAPI_31_VALIDATOR.validate(build_document(make_config(**sections)))


@pytest.fixture
def fake_config() -> AppConfig:
    # Only the shape of the config matters here: nothing is started.
    return agent_config(FakeServer(port=1))


def test_public_and_protected_operations_follow_the_config() -> None:
    document = build_document(make_config())
    paths = document["paths"]
    assert document["security"] == [{"bearer": []}]
    for path in ("/health", "/health/ready", "/metrics", OPENAPI_PATH):
        assert paths[path]["get"]["security"] == []
    for path, method in (("/v1/models", "get"), ("/v1/chat/completions", "post")):
        assert "security" not in paths[path][method]
        assert "401" in paths[path][method]["responses"]


RPC_ERRORS: dict[str, Any] = {
    MCP_PATH: {"$ref": "#/components/schemas/JsonRpcError"},
    A2A_PATH: JSONRPC_ERROR,
}


def test_every_error_response_is_the_error_shape() -> None:
    document = build_document(make_config(server={"cors_origins": ["https://a.example"]}))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or method == "head" or (status == "503" and "health" in path):
                    continue
                schema = response["content"]["application/json"]["schema"]
                if path in (MCP_PATH, A2A_PATH) and status != "431":
                    # MCP and A2A clients read JSON-RPC errors; 431 and malformed HTTP (one
                    # branch of 400) are answered by aiohttp's parser, below the application.
                    rpc = RPC_ERRORS[path]
                    if status == "400":
                        assert schema["anyOf"][0] == rpc
                        schema = schema["anyOf"][1]
                    else:
                        assert schema == rpc, (path, status)
                        continue
                assert schema["allOf"] == [{"$ref": "#/components/schemas/Error"}], (path, status)


async def test_the_document_is_served_without_a_token() -> None:
    config = make_config()
    async with serve_app(config) as server, aiohttp.ClientSession() as session:
        response = await session.get(server.url + OPENAPI_PATH)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == build_document(config)


# The fuzzed server's configuration; the document is built from it at import time (schemathesis
# parametrizes at collection) and the live server must serve exactly this document.
FUZZ_SECTIONS: dict[str, Any] = {
    "rate_limit": {"enabled": True, "burst": 1_000_000, "requests_per_minute": 10_000_000}
}
FUZZ_DOCUMENT = build_document(
    parse_config(
        server_config("http://127.0.0.1:1", **FUZZ_SECTIONS)
        | {"jwt_secret_key": JWT_SECRET, "openai_api_key": "k", "anthropic_api_key": "k"}
    )
)
schema = schemathesis.openapi.from_dict(FUZZ_DOCUMENT)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    logs: Path = tmp_path_factory.mktemp("schemathesis")
    with (
        fake_upstreams(logs) as fakes,
        running_server(server_config(fakes, **FUZZ_SECTIONS), logs) as server,
    ):
        status, body = get(server.url + OPENAPI_PATH)
        assert status == 200
        assert json.loads(body) == FUZZ_DOCUMENT
        yield server


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@hypothesis.seed(FUZZ_SEED)
def test_live_server_conforms_to_its_document(case: Any, live_server: ServerProcess) -> None:
    case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {make_token('schemathesis')}"},
        checks=CHECKS,
        timeout=30,
    )


def _property(document: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][model]["properties"][field]
    return schema


def test_a_constraint_changed_in_a_model_changes_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.openapi
    from app.openai_api.models import ChatCompletionRequest

    assert {"type": "number", "minimum": 0, "maximum": 2} in _property(
        build_document(make_config()), "ChatCompletionRequest", "temperature"
    )["anyOf"]
    changed = pydantic.create_model(
        "ChatCompletionRequest",
        __base__=ChatCompletionRequest,
        temperature=(float | None, pydantic.Field(default=None, ge=0, le=1)),
    )
    with pytest.raises(pydantic.ValidationError):
        changed.model_validate(
            {"model": "a", "messages": [{"role": "user", "content": "x"}], "temperature": 1.5}
        )
    others = tuple(m for m in app.openapi.REQUEST_MODELS if m is not ChatCompletionRequest)
    monkeypatch.setattr(app.openapi, "REQUEST_MODELS", (changed, *others))
    assert {"type": "number", "minimum": 0, "maximum": 1} in _property(
        build_document(make_config()), "ChatCompletionRequest", "temperature"
    )["anyOf"]


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("temperature", 0, 2), ("top_p", 0, 1), ("max_tokens", 1, 1_000_000)],
)
async def test_the_server_enforces_the_documented_bounds(
    field: str, low: float, high: float
) -> None:
    config = make_config()
    bounds = next(
        schema
        for schema in _property(build_document(config), "ChatCompletionRequest", field)["anyOf"]
        if schema["type"] != "null"
    )
    assert (bounds["minimum"], bounds["maximum"]) == (low, high)
    step = 1 if field == "max_tokens" else 0.01
    async with serve_app(config) as server, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {make_token()}"}
        for value in (low - step, high + step):
            body = {"model": "x", "messages": [{"role": "user", "content": "x"}], field: value}
            response = await session.post(
                server.url + "/v1/chat/completions", json=body, headers=headers
            )
            error = (await response.json())["error"]
            assert (response.status, error["param"]) == (400, field), value


USER = {"role": "user", "content": "hi"}
CHAT_BODIES: list[Any] = [
    {"model": "a", "messages": [USER]},
    {"model": "a", "messages": [{"role": "assistant"}, USER]},
    {"model": "a", "messages": [{"role": "assistant", "content": None}]},
    {"model": "a", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    {"model": "a", "messages": [{"role": "user"}]},
    {"model": "a", "messages": [{"role": "user", "content": None}]},
    {"model": "a", "messages": [{"role": "system", "content": "x"}]},
    {"model": "a", "messages": [{"role": "robot", "content": "x"}]},
    {"model": "a", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
    {"model": "a", "messages": []},
    {"model": "", "messages": [USER]},
    {"messages": [USER]},
    {"model": "a", "messages": [USER], "temperature": 2},
    {"model": "a", "messages": [USER], "temperature": 2.01},
    {"model": "a", "messages": [USER], "temperature": "1"},
    {"model": "a", "messages": [USER], "top_p": 1.01},
    {"model": "a", "messages": [USER], "max_tokens": 1_000_000},
    {"model": "a", "messages": [USER], "max_tokens": 1_000_001},
    {"model": "a", "messages": [USER], "max_completion_tokens": 0},
    {"model": "a", "messages": [USER], "max_tokens": 2.5},
    {"model": "a", "messages": [USER], "stop": ["a", "b", "c", "d"]},
    {"model": "a", "messages": [USER], "stop": ["a", "b", "c", "d", "e"]},
    {"model": "a", "messages": [USER], "stop": [1]},
    {"model": "a", "messages": [USER], "stream": "yes"},
    {"model": "a", "messages": [USER], "stream_options": {"include_usage": 1}},
    {"model": "a", "messages": [USER], "n": 1},
    {"model": "a", "messages": [USER], "n": 2},
    {"model": "a", "messages": [USER], "user": None},
]
RUN_BODIES: list[Any] = [
    {"input": "hi"},
    {"input": ""},
    {"input": "  "},
    {"input": [USER], "stream": True, "metadata": {"a": 1}},
    {"input": [{"role": "developer", "content": "x"}]},
    {"input": 4},
    {"input": "hi", "metadata": {str(i): i for i in range(17)}},
    {"input": "hi", "extra": 1},
    {},
]


@pytest.mark.parametrize(
    ("model", "body"),
    [("ChatCompletionRequest", body) for body in CHAT_BODIES]
    + [("RunRequest", body) for body in RUN_BODIES],
)
def test_the_document_and_the_server_agree_on_what_is_valid(model: str, body: Any) -> None:
    # A real JSON Schema 2020-12 validator (jsonschema_rs, schemathesis's) on the served schema.
    from app.http.wire import InvalidFieldError
    from app.openai_api.requests import parse_chat_completion
    from app.runs_api.requests import parse_run

    document = build_document(make_config())
    validator = jsonschema_rs.Draft202012Validator(
        {**document, "$ref": f"#/components/schemas/{model}"}
    )
    parse = parse_chat_completion if model == "ChatCompletionRequest" else parse_run
    try:
        parse(body)
        accepted = True
    except InvalidFieldError:
        accepted = False
    assert validator.is_valid(body) == accepted
