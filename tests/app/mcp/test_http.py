"""What the official clients cannot send: the stateless era (2026-07-28), the header rules,
transport errors and bad bodies, as raw HTTP against the real server on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import pytest
import structlog.testing

from app.app_keys import METRICS_KEY, SHUTDOWN_DEADLINE_KEY
from app.mcp import SESSION_HEADER, McpEndpoint
from tests.app.conftest import bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.sse import sse_events

from .conftest import ACCEPT_BOTH, Server, ServerFactory, eventually

MODERN = "2026-07-28"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def headers(token: str | None = None, **extra: str) -> dict[str, str]:
    return {
        **bearer(token or make_token()),
        "Content-Type": "application/json",
        "Accept": ACCEPT_BOTH,
        **extra,
    }


def request(method: str, params: dict[str, Any] | None = None, id: int | str = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return body


def modern(method: str, name: str | None = None, **extra: str) -> dict[str, str]:
    values = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method, **extra}
    if name is not None:
        values["Mcp-Name"] = name
    return headers(**values)


async def read_message(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The final JSON-RPC message of a JSON or SSE answer."""
    if response.content_type == "text/event-stream":
        events = sse_events(await response.text())
        assert events, "empty SSE stream"
        name, data = events[-1]
        assert name == "message"
        message: dict[str, Any] = json.loads(data)
        return message
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


async def assert_ready(http: aiohttp.ClientSession, server: Server) -> None:
    async with http.get(server.url + "/health/ready") as response:
        assert response.status == 200


# --- the stateless era (2026-07-28) ---------------------------------------------------------


async def test_server_discover(http: aiohttp.ClientSession, server: Server) -> None:
    body = request("server/discover", {"_meta": META})
    async with http.post(server.mcp, json=body, headers=modern("server/discover")) as response:
        assert response.status == 200
        assert SESSION_HEADER not in response.headers
        message = await read_message(response)
    result = message["result"]
    assert message["id"] == 1
    assert MODERN in result["supportedVersions"]
    assert "2025-11-25" in result["supportedVersions"]
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    # 2026-07-28 has no serverInfo result field: the identity is the _meta stamp.
    assert "serverInfo" not in result
    assert result["_meta"][SERVER_INFO]["name"] == "agentsmcp"
    assert result["_meta"][SERVER_INFO]["version"]
    assert result["resultType"] == "complete"
    assert result["cacheScope"] in ("public", "private")
    assert result["ttlMs"] > 0


async def test_stateless_list_and_call(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    listing = request("tools/list", {"_meta": META})
    async with http.post(server.mcp, json=listing, headers=modern("tools/list")) as response:
        assert response.status == 200
        result = (await read_message(response))["result"]
    assert {tool["name"] for tool in result["tools"]} == {"coding", "coding-claude"}
    assert result["resultType"] == "complete"
    assert result["_meta"][SERVER_INFO]["name"] == "agentsmcp"
    call = request(
        "tools/call", {"name": "coding-claude", "arguments": {"task": "hi"}, "_meta": META}, id="c1"
    )
    async with http.post(
        server.mcp, json=call, headers=modern("tools/call", "coding-claude")
    ) as response:
        assert response.status == 200
        message = await read_message(response)
    assert message["id"] == "c1"
    assert message["result"]["isError"] is False
    assert message["result"]["structuredContent"]["output"] == "Hello, world!"
    assert message["result"]["_meta"][SERVER_INFO]["name"] == "agentsmcp"
    assert fake.anthropic.attempts == 1


async def test_stateless_name_header_may_be_base64(
    http: aiohttp.ClientSession, server: Server
) -> None:
    encoded = "=?base64?" + base64.b64encode(b"coding").decode() + "?="
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}, "_meta": META})
    async with http.post(server.mcp, json=call, headers=modern("tools/call", encoded)) as response:
        assert response.status == 200
        assert (await read_message(response))["result"]["isError"] is False


@pytest.mark.parametrize(
    ("method", "body_meta", "header_values", "problem"),
    [
        ("tools/list", META, {"MCP-Protocol-Version": MODERN}, "Mcp-Method"),
        ("tools/list", META, {"MCP-Protocol-Version": MODERN, "Mcp-Method": "ping"}, "Mcp-Method"),
        ("tools/list", META, {"Mcp-Method": "tools/list"}, "MCP-Protocol-Version"),
        ("tools/list", None, {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}, "_meta"),
        (
            "tools/list",
            META,
            {"MCP-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/list"},
            "MCP-Protocol-Version",
        ),
        (
            "tools/call",
            META,
            {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call"},
            "Mcp-Name",
        ),
        (
            "tools/call",
            META,
            {
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "tools/call",
                "Mcp-Name": "coding-claude",
            },
            "Mcp-Name",
        ),
    ],
)
async def test_stateless_header_mismatch_is_32020(
    http: aiohttp.ClientSession,
    server: Server,
    fake: FakeServer,
    method: str,
    body_meta: dict[str, Any] | None,
    header_values: dict[str, str],
    problem: str,
) -> None:
    params: dict[str, Any] = {}
    if body_meta is not None:
        params["_meta"] = body_meta
    if method == "tools/call":
        params |= {"name": "coding", "arguments": {"task": "hi"}}
    async with http.post(
        server.mcp, json=request(method, params), headers=headers(**header_values)
    ) as response:
        assert response.status == 400
        message = await response.json()
    assert message["error"]["code"] == -32020
    assert problem in message["error"]["message"]
    assert message["id"] == 1
    assert fake.openai.attempts == 0


async def test_stateless_unsupported_version_is_32022(
    http: aiohttp.ClientSession, server: Server
) -> None:
    meta = {**META, "io.modelcontextprotocol/protocolVersion": "2027-01-01"}
    async with http.post(
        server.mcp,
        json=request("server/discover", {"_meta": meta}),
        headers=headers(**{"MCP-Protocol-Version": "2027-01-01", "Mcp-Method": "server/discover"}),
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["code"] == -32022
    assert error["data"]["requested"] == "2027-01-01"
    assert MODERN in error["data"]["supported"]


async def test_stateless_unknown_method_is_404(http: aiohttp.ClientSession, server: Server) -> None:
    async with http.post(
        server.mcp,
        json=request("sampling/whatever", {"_meta": META}),
        headers=modern("sampling/whatever"),
    ) as response:
        assert response.status == 404
        error = (await response.json())["error"]
    assert error["code"] == -32601


async def test_stateless_closed_stream_cancels_the_run(server: Server, fake: FakeServer) -> None:
    fake.openai.default = Behavior(chunks=("tok ",) * 200, chunk_delay=0.05)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "long"}, "_meta": META})
    async with aiohttp.ClientSession() as http:
        response = await http.post(server.mcp, json=call, headers=modern("tools/call", "coding"))
        assert response.content_type == "text/event-stream"
        await eventually(lambda: fake.openai.inflight > 0)
        await asyncio.sleep(0.2)
        response.close()
        left_at = time.monotonic()
    disconnect = await fake.openai.wait_disconnect(within=1.0)
    assert disconnect.at - left_at < 1.0
    assert disconnect.chunks_sent < 200
    registry = server.app[METRICS_KEY].registry
    await eventually(
        lambda: (
            registry.get_sample_value("agentsmcp_mcp_cancellations_total", {"reason": "disconnect"})
            == 1
        )
    )


# --- the handshake era and the transport rules ----------------------------------------------


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
        (MODERN, "2025-11-25"),
    ],
)
async def test_initialize_negotiates_and_mints_a_session(
    http: aiohttp.ClientSession, server: Server, requested: str, answered: str
) -> None:
    params = {
        "protocolVersion": requested,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    async with http.post(
        server.mcp, json=request("initialize", params), headers=headers()
    ) as response:
        assert response.status == 200
        session = response.headers[SESSION_HEADER]
        result = (await read_message(response))["result"]
    assert result["protocolVersion"] == answered
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert len(session) >= 16
    assert all(0x21 <= ord(c) <= 0x7E for c in session)


async def test_unknown_session_id_is_served(http: aiohttp.ClientSession, server: Server) -> None:
    async with http.post(
        server.mcp,
        json=request("tools/list"),
        headers=headers(
            **{SESSION_HEADER: "never-issued-by-anyone", "MCP-Protocol-Version": "2025-11-25"}
        ),
    ) as response:
        assert response.status == 200
        assert len((await read_message(response))["result"]["tools"]) == 2


async def test_unsupported_protocol_version_is_400(
    http: aiohttp.ClientSession, server: Server
) -> None:
    async with http.post(
        server.mcp,
        json=request("tools/list"),
        headers=headers(**{"MCP-Protocol-Version": "1999-01-01"}),
    ) as response:
        assert response.status == 400
        message = await response.json()
    assert message["error"]["code"] == -32022
    assert message["id"] == 1


async def test_missing_protocol_version_is_served_as_2025_03_26(
    http: aiohttp.ClientSession, server: Server
) -> None:
    async with http.post(server.mcp, json=request("ping"), headers=headers()) as response:
        assert response.status == 200
        assert (await read_message(response)) == {"jsonrpc": "2.0", "id": 1, "result": {}}


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 42}},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "id": 7, "result": {}},
        {"jsonrpc": "2.0", "id": 7, "error": {"code": -1, "message": "no"}},
    ],
)
async def test_notifications_and_responses_get_202_without_body(
    http: aiohttp.ClientSession, server: Server, body: dict[str, Any]
) -> None:
    async with http.post(server.mcp, json=body, headers=headers()) as response:
        assert response.status == 202
        assert await response.read() == b""


async def test_a_request_is_never_202(http: aiohttp.ClientSession, server: Server) -> None:
    for method in ("ping", "tools/list", "prompts/list", "resources/list", "nope/nope"):
        async with http.post(server.mcp, json=request(method), headers=headers()) as response:
            assert response.status != 202
            message = await read_message(response)
            assert message["id"] == 1


async def test_prompts_and_resources_are_empty_lists(
    http: aiohttp.ClientSession, server: Server
) -> None:
    expected = {
        "prompts/list": "prompts",
        "resources/list": "resources",
        "resources/templates/list": "resourceTemplates",
    }
    for method, key in expected.items():
        async with http.post(server.mcp, json=request(method), headers=headers()) as response:
            assert response.status == 200
            assert (await read_message(response))["result"] == {key: []}


async def test_unknown_method_in_the_handshake_era(
    http: aiohttp.ClientSession, server: Server
) -> None:
    # 200 with the error: mcp 1.x tears the whole session down on an HTTP error status.
    async with http.post(
        server.mcp, json=request("logging/setLevel"), headers=headers()
    ) as response:
        assert response.status == 200
        assert (await read_message(response))["error"]["code"] == -32601


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_get_and_delete_are_405(
    http: aiohttp.ClientSession, server: Server, method: str
) -> None:
    async with http.request(method, server.mcp, headers=headers()) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert (await response.json())["error"]["code"] == -32600


async def test_no_redirect(http: aiohttp.ClientSession, server: Server) -> None:
    for path in ("/mcp", "/mcp/", "/MCP"):
        async with http.post(
            server.url + path, json=request("ping"), headers=headers(), allow_redirects=False
        ) as response:
            assert response.status in (200, 404)
            assert "Location" not in response.headers


async def test_sse_headers_and_keepalives(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(chunks=("a", "b"), chunk_delay=0.3)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}})
    async with http.post(server.mcp, json=call, headers=headers()) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert "no-cache" in response.headers["Cache-Control"]
        assert response.headers["X-Accel-Buffering"] == "no"
        text = await response.text()
    assert ": keepalive" in text
    events = sse_events(text)
    assert [name for name, _ in events if name is not None] == ["message"]
    assert json.loads(events[-1][1])["result"]["structuredContent"]["output"] == "ab"


@pytest.mark.parametrize(
    ("accept", "status", "content_type"),
    [
        ("application/json", 200, "application/json"),
        ("text/event-stream", 200, "text/event-stream"),
        ("*/*", 200, "application/json"),
        (None, 200, "application/json"),
        ("image/png", 406, "application/json"),
        ("application/json;q=0, image/png", 406, "application/json"),
    ],
)
async def test_accept(
    http: aiohttp.ClientSession,
    server: Server,
    accept: str | None,
    status: int,
    content_type: str,
) -> None:
    values = headers()
    values.pop("Accept")
    if accept is not None:
        values["Accept"] = accept
    else:
        values["Accept"] = ""
    call = request(
        "tools/call",
        {"name": "coding", "arguments": {"task": "hi"}, "_meta": {"progressToken": "p"}},
    )
    async with http.post(server.mcp, json=call, headers=values) as response:
        assert response.status == status
        assert response.content_type == content_type
        message = await read_message(response)
    if status == 200:
        assert message["result"]["isError"] is False
    else:
        assert message["error"]["code"] == -32600


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_content_type_must_be_json(
    http: aiohttp.ClientSession, server: Server, content_type: str
) -> None:
    async with http.post(
        server.mcp,
        data=json.dumps(request("ping")),
        headers=headers(**{"Content-Type": content_type}),
    ) as response:
        assert response.status == 415
        assert (await response.json())["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 400, -32600),
        (b"[]", 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":', 400, -32700),
        (b"", 400, -32700),
        (b"\xff\xfe", 400, -32700),
        (b'"ping"', 400, -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', 400, -32600),
        (b"[" * 100_000 + b"]" * 100_000, 400, -32700),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
            + b'{"a":' * 5000
            + b"1"
            + b"}" * 5000
            + b"}",
            400,
            -32700,
        ),
        (b'{"a":"' + b"x" * 2_000_000 + b'"}', 413, -32600),
    ],
)
async def test_bad_bodies_are_clean_json_rpc_errors(
    http: aiohttp.ClientSession, server: Server, raw: bytes, status: int, code: int
) -> None:
    async with http.post(server.mcp, data=raw, headers=headers()) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        message = await response.json()
    assert message["jsonrpc"] == "2.0"
    assert message["id"] is None
    assert message["error"]["code"] == code
    assert "Traceback" not in message["error"]["message"]
    await assert_ready(http, server)


async def test_malformed_tool_calls_are_invalid_params(
    http: aiohttp.ClientSession, server: Server
) -> None:
    for params in ({}, {"name": 7}, {"name": "coding", "arguments": "task"}, {"name": "nope"}):
        async with http.post(
            server.mcp, json=request("tools/call", params), headers=headers()
        ) as response:
            assert response.status == 200
            assert (await read_message(response))["error"]["code"] == -32602


async def test_no_token_is_a_401_with_a_json_rpc_body(
    http: aiohttp.ClientSession, server: Server
) -> None:
    values = headers()
    values.pop("Authorization")
    async with http.post(server.mcp, json=request("initialize"), headers=values) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        message = await response.json()
    assert message["jsonrpc"] == "2.0"
    assert message["id"] is None
    assert isinstance(message["error"]["code"], int)
    assert message["error"]["data"]["code"] == "missing_token"


async def test_a_foreign_origin_is_refused(
    http: aiohttp.ClientSession, start_server: ServerFactory
) -> None:
    server = await start_server(server={"cors_origins": ["https://inspector.example"]})
    async with http.post(
        server.mcp, json=request("ping"), headers=headers(Origin="https://evil.example")
    ) as response:
        assert response.status == 403
    async with http.post(
        server.mcp, json=request("ping"), headers=headers(Origin="https://inspector.example")
    ) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Expose-Headers"]
        exposed = response.headers["Access-Control-Expose-Headers"].lower()
        assert "mcp-session-id" in exposed
        assert "www-authenticate" in exposed
    async with http.options(
        server.mcp,
        headers={
            "Origin": "https://inspector.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id, "
            "mcp-protocol-version, mcp-method, mcp-name, last-event-id, accept",
        },
    ) as response:
        assert response.status == 200
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for name in (
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    ):
        assert name in allowed
    async with http.options(
        server.mcp,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    ) as response:
        assert response.status == 403
        assert (await response.json())["jsonrpc"] == "2.0"


# --- agent failures, limits, cancellation ---------------------------------------------------


async def test_timeout_is_an_error_result(
    http: aiohttp.ClientSession, start_server: ServerFactory, fake: FakeServer
) -> None:
    agents = {"slow": {"provider": "openai", "model": "gpt-4o", "timeout": 0.3}}
    server = await start_server(agents=agents)
    fake.openai.default = Behavior(header_delay=3)
    call = request("tools/call", {"name": "slow", "arguments": {"task": "hi"}})
    async with http.post(server.mcp, json=call, headers=headers()) as response:
        result = (await read_message(response))["result"]
    assert result["isError"] is True
    assert "upstream_timeout" in result["content"][0]["text"]
    assert "structuredContent" not in result


async def test_upstream_rate_limit_is_an_error_result_with_retry_after(
    http: aiohttp.ClientSession, start_server: ServerFactory, fake: FakeServer
) -> None:
    agents = {"oa": {"provider": "openai", "model": "gpt-4o"}}
    server = await start_server(agents=agents, max_retries=0)
    fake.openai.default = Behavior(status=429, retry_after=7)
    call = request("tools/call", {"name": "oa", "arguments": {"task": "hi"}})
    async with http.post(server.mcp, json=call, headers=headers()) as response:
        result = (await read_message(response))["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert "upstream_rate_limited" in text
    assert "7" in text


async def test_spent_token_budget_is_an_error_result(
    http: aiohttp.ClientSession, start_server: ServerFactory, fake: FakeServer
) -> None:
    server = await start_server(rate_limit={"enabled": True, "tokens_per_minute": 10})
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}})
    # The first run spends the minute's budget (a budget refuses once it is used up).
    async with http.post(server.mcp, json=call, headers=headers()) as response:
        assert (await read_message(response))["result"]["isError"] is False
    async with http.post(server.mcp, json=call, headers=headers()) as response:
        assert response.status == 200
        result = (await read_message(response))["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert "token_budget_exceeded" in text
    assert "Retry" in text
    assert fake.openai.attempts == 1


async def test_overload_is_a_json_rpc_error(
    http: aiohttp.ClientSession, start_server: ServerFactory, fake: FakeServer
) -> None:
    server = await start_server(server={"max_inflight_runs": 1})
    fake.openai.default = Behavior(chunks=("a",) * 10, chunk_delay=0.1)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}})
    first = asyncio.create_task(http.post(server.mcp, json=call, headers=headers()))
    await eventually(lambda: fake.openai.inflight > 0)
    async with http.post(server.mcp, json={**call, "id": 2}, headers=headers()) as response:
        assert response.status == 200
        error = (await read_message(response))["error"]
    assert error["code"] == -32000
    assert error["data"]["code"] == "server_overloaded"
    done = await first
    assert (await read_message(done))["result"]["isError"] is False
    registry = server.app[METRICS_KEY].registry
    assert (
        registry.get_sample_value(
            "agentsmcp_mcp_requests_total", {"method": "tools/call", "outcome": "rejected"}
        )
        == 1
    )


async def test_another_subject_cannot_cancel_a_call(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(chunks=("a",) * 6, chunk_delay=0.1)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}}, id=5)
    alice = make_token("alice")
    running = asyncio.create_task(http.post(server.mcp, json=call, headers=headers(alice)))
    await eventually(lambda: fake.openai.inflight > 0)
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}
    async with http.post(
        server.mcp, json=cancel, headers=headers(make_token("mallory"))
    ) as response:
        assert response.status == 202
    async with await running as response:
        message = await read_message(response)
    assert message["result"]["structuredContent"]["output"] == "aaaaaa"
    assert not fake.openai.disconnects


async def test_cancel_of_a_json_call_answers_request_cancelled(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(chunks=("a",) * 100, chunk_delay=0.05)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}}, id="x")
    json_only = headers(Accept="application/json", **{SESSION_HEADER: "s1"})
    running = asyncio.create_task(http.post(server.mcp, json=call, headers=json_only))
    await eventually(lambda: fake.openai.inflight > 0)
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "x"}}
    # Another session of the same subject cannot cancel it either.
    other = headers(**{SESSION_HEADER: "s2"})
    async with http.post(server.mcp, json=cancel, headers=other) as response:
        assert response.status == 202
    assert fake.openai.inflight == 1
    cancelled_at = time.monotonic()
    async with http.post(server.mcp, json=cancel, headers=json_only) as response:
        assert response.status == 202
    disconnect = await fake.openai.wait_disconnect(within=1.0)
    assert disconnect.at - cancelled_at < 1.0
    async with await running as response:
        message = await read_message(response)
    assert message["error"]["code"] == -32800


@pytest.mark.parametrize("agent", ["coding", "coding-claude"])
async def test_client_disconnect_mid_run_stops_the_upstream_within_a_second(
    server: Server, fake: FakeServer, agent: str
) -> None:
    upstream = fake.openai if agent == "coding" else fake.anthropic
    upstream.default = Behavior(chunks=("tok ",) * 200, chunk_delay=0.05)
    call = request(
        "tools/call", {"name": agent, "arguments": {"task": "long"}, "_meta": {"progressToken": 1}}
    )
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            server.mcp, json=call, headers=headers(**{"MCP-Protocol-Version": "2025-11-25"})
        )
        await response.content.readany()
        await asyncio.sleep(0.2)
        response.close()
        left_at = time.monotonic()
    disconnect = await upstream.wait_disconnect(within=1.0)
    assert disconnect.at - left_at < 1.0
    assert disconnect.chunks_sent < 200
    async with aiohttp.ClientSession() as http:
        await assert_ready(http, server)


async def test_client_leaving_a_json_call_stops_the_upstream_within_a_second(
    server: Server, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(header_delay=20)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "long"}})

    async def client_side() -> None:
        async with aiohttp.ClientSession() as http:
            await http.post(server.mcp, json=call, headers=headers(Accept="application/json"))

    task = asyncio.create_task(client_side())
    await eventually(lambda: fake.openai.inflight > 0)
    task.cancel()
    left_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    disconnect = await fake.openai.wait_disconnect(within=1.0)
    assert disconnect.at - left_at < 1.0


async def test_endpoint_can_be_disabled(
    http: aiohttp.ClientSession, start_server: ServerFactory
) -> None:
    server = await start_server(mcp={"enabled": False})
    async with http.post(server.mcp, json=request("ping"), headers=headers()) as response:
        assert response.status == 404
    async with http.get(server.url + "/metrics") as response:
        assert "agentsmcp_mcp_requests_total" not in await response.text()


async def test_progress_gap_and_request_metrics(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(chunks=("a",) * 5, chunk_delay=0.1)
    call = request(
        "tools/call",
        {"name": "coding", "arguments": {"task": "hi"}, "_meta": {"progressToken": "t"}},
    )
    async with http.post(server.mcp, json=call, headers=headers()) as response:
        events = sse_events(await response.text())
    progress = [json.loads(data) for _, data in events[:-1]]
    assert all(p["method"] == "notifications/progress" for p in progress)
    assert all(p["params"]["progressToken"] == "t" for p in progress)
    async with http.post(server.mcp, json=request("bogus/method"), headers=headers()) as response:
        await response.read()
    async with http.get(server.url + "/metrics") as response:
        text = await response.text()
    assert 'agentsmcp_mcp_requests_total{method="tools/call",outcome="ok"} 1.0' in text
    assert 'agentsmcp_mcp_requests_total{method="other",outcome="error"} 1.0' in text
    assert 'agentsmcp_mcp_tool_calls_total{outcome="ok",tool="coding"} 1.0' in text
    assert 'agentsmcp_mcp_tool_call_duration_seconds_count{tool="coding"} 1.0' in text
    gaps = f"agentsmcp_mcp_progress_gap_seconds_count {float(len(progress) - 1)}"
    assert gaps in text
    assert 'agentsmcp_mcp_progress_gap_seconds_bucket{le="10.0"}' in text
    assert 'agentsmcp_mcp_cancellations_total{reason="disconnect"} 0.0' in text
    assert 'agentsmcp_mcp_cancellations_total{reason="relayed"} 0.0' in text
    await assert_ready(http, server)


async def test_handshake_request_with_stray_stateless_headers_is_served(
    http: aiohttp.ClientSession, server: Server
) -> None:
    values = headers(**{"MCP-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/list"})
    async with http.post(server.mcp, json=request("tools/list"), headers=values) as response:
        assert response.status == 200
        result = (await read_message(response))["result"]
    assert "resultType" not in result
    assert len(result["tools"]) == 2


async def test_cancelled_run_charges_the_tokens_it_used(
    http: aiohttp.ClientSession, start_server: ServerFactory, fake: FakeServer
) -> None:
    server = await start_server(rate_limit={"enabled": True, "tokens_per_day": 1_000_000})
    fake.openai.default = Behavior(chunks=("word ",) * 100, chunk_delay=0.05)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}}, id=9)
    running = asyncio.create_task(http.post(server.mcp, json=call, headers=headers()))
    await eventually(lambda: fake.openai.inflight > 0)
    await asyncio.sleep(0.5)
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    async with http.post(server.mcp, json=cancel, headers=headers()) as response:
        assert response.status == 202
    await fake.openai.wait_disconnect(within=1.0)
    (await running).close()
    registry = server.app[METRICS_KEY].registry
    await eventually(
        lambda: (
            (
                registry.get_sample_value(
                    "agentsmcp_ratelimit_tokens_charged_total", {"agent": "coding"}
                )
                or 0
            )
            > 0
        )
    )


async def test_shutdown_deadline_ends_a_call_with_an_error_result(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(chunks=("a",) * 100, chunk_delay=0.05)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}})
    running = asyncio.create_task(http.post(server.mcp, json=call, headers=headers()))
    await eventually(lambda: fake.openai.inflight > 0)
    server.app[SHUTDOWN_DEADLINE_KEY].set()
    async with await running as response:
        assert response.status == 200
        result = (await read_message(response))["result"]
    assert result["isError"] is True
    assert "shutting down" in result["content"][0]["text"]
    await fake.openai.wait_disconnect(within=1.0)


async def test_request_rate_limit_is_a_429_with_a_json_rpc_body(
    http: aiohttp.ClientSession, start_server: ServerFactory
) -> None:
    server = await start_server(rate_limit={"enabled": True, "requests_per_minute": 1, "burst": 1})
    async with http.post(server.mcp, json=request("ping"), headers=headers()) as response:
        assert response.status == 200
    async with http.post(server.mcp, json=request("ping"), headers=headers()) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
        message = await response.json()
    assert message["id"] is None
    assert message["error"]["code"] == -32000
    assert message["error"]["data"]["code"] == "rate_limit_exceeded"


async def test_a_bug_is_a_500_json_rpc_error_that_leaks_nothing(
    http: aiohttp.ClientSession, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("secret detail at /srv/internal.py")

    monkeypatch.setattr(McpEndpoint, "_dispatch", broken)
    async with http.post(server.mcp, json=request("tools/list"), headers=headers()) as response:
        assert response.status == 500
        text = await response.text()
    assert "secret detail" not in text
    message = json.loads(text)
    assert message["error"]["code"] == -32603
    registry = server.app[METRICS_KEY].registry
    assert (
        registry.get_sample_value(
            "agentsmcp_mcp_requests_total", {"method": "other", "outcome": "error"}
        )
        == 1
    )
    await assert_ready(http, server)


@pytest.mark.parametrize("accept", [ACCEPT_BOTH, "application/json"])
async def test_client_gone_before_the_answer_is_a_cancel_not_a_500(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer, accept: str
) -> None:
    await _leave_at_once(http, server, fake, "tools/call", accept, cancels=True)


async def test_client_gone_before_an_sse_answer_is_not_a_500(
    http: aiohttp.ClientSession, server: Server, fake: FakeServer
) -> None:
    await _leave_at_once(http, server, fake, "tools/list", "text/event-stream", cancels=False)


async def _leave_at_once(
    http: aiohttp.ClientSession,
    server: Server,
    fake: FakeServer,
    method: str,
    accept: str,
    *,
    cancels: bool,
) -> None:
    """A client that sends a call and closes the socket at once: the run is cancelled and
    counted as a disconnect; nothing is logged as an error nor counted as a 5xx."""
    fake.openai.default = Behavior(chunks=("tok ",) * 20, chunk_delay=0.05)
    host, port = server.url.removeprefix("http://").split(":")
    rounds = 5
    with structlog.testing.capture_logs() as logs:
        for number in range(rounds):
            params = {"name": "coding", "arguments": {"task": "x"}} if cancels else None
            call = request(method, params, id=number)
            body = json.dumps(call).encode()
            head = "".join(
                f"{name}: {value}\r\n"
                for name, value in {
                    **headers(**{"MCP-Protocol-Version": "2025-11-25", "Accept": accept}),
                    "Host": f"{host}:{port}",
                    "Content-Length": str(len(body)),
                }.items()
            )
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST /mcp HTTP/1.1\r\n{head}\r\n".encode() + body)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        registry = server.app[METRICS_KEY].registry

        def cancelled() -> float:
            value = registry.get_sample_value(
                "agentsmcp_mcp_cancellations_total", {"reason": "disconnect"}
            )
            return value or 0.0

        def served() -> float:
            return sum(
                sample.value
                for metric in registry.collect()
                if metric.name == "http_requests"
                for sample in metric.samples
                if sample.name == "http_requests_total" and sample.labels["route"] == "/mcp"
            )

        await eventually(lambda: served() == rounds)
        if cancels:
            await eventually(lambda: cancelled() == rounds)
        await eventually(lambda: fake.openai.inflight == 0)
        await asyncio.sleep(0.3)
    assert cancelled() == (rounds if cancels else 0)
    if cancels:
        outcome = {"tool": "coding", "outcome": "cancelled"}
        assert registry.get_sample_value("agentsmcp_mcp_tool_calls_total", outcome) == rounds
    statuses = {
        sample.labels["status"]
        for metric in registry.collect()
        if metric.name == "http_requests"
        for sample in metric.samples
        if sample.name == "http_requests_total" and sample.labels["route"] == "/mcp"
    }
    assert not any(status.startswith("5") for status in statuses), statuses
    errors = [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    assert not errors, errors
    await assert_ready(http, server)
