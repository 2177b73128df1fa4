"""The endpoint driven by the official Python MCP client, mcp 1.x (ClientSession)."""

from __future__ import annotations

import asyncio
import json
import time

import anyio
import pytest
from mcp import types
from mcp.shared.exceptions import McpError

from app.app_keys import METRICS_KEY
from app.mcp import SESSION_HEADER
from tests.fakes import Behavior, FakeServer

from .conftest import Server, eventually, mcp_session

TOOLS = {"coding": "fake_openai", "coding-claude": "fake_anthropic"}


async def test_lists_one_tool_per_agent_with_schemas(server: Server) -> None:
    async with mcp_session(server.mcp) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"coding", "coding-claude"}
    schema = tools["coding"].inputSchema
    assert schema["type"] == "object"
    assert schema["required"] == ["task"]
    assert set(schema["properties"]) == {"task", "context", "max_tokens"}
    max_tokens = schema["properties"]["max_tokens"]
    assert max_tokens["type"] == "integer"
    assert (max_tokens["minimum"], max_tokens["maximum"]) == (1, 256)
    assert "default" not in max_tokens
    assert tools["coding"].outputSchema is not None
    assert tools["coding"].description
    assert "$ref" not in json.dumps(schema)


@pytest.mark.parametrize("tool", ["coding", "coding-claude"])
async def test_call_returns_structured_content_and_text(
    server: Server, fake: FakeServer, tool: str
) -> None:
    async with mcp_session(server.mcp) as session:
        result = await session.call_tool(tool, {"task": "Say hello"})
    assert not result.isError
    assert result.structuredContent is not None
    assert result.structuredContent["output"] == "Hello, world!"
    assert result.structuredContent["agent"] == tool
    assert result.structuredContent["usage"]["total_tokens"] > 0
    text = result.content[0]
    assert text.type == "text"
    assert json.loads(text.text) == result.structuredContent
    upstream = fake.openai if tool == "coding" else fake.anthropic
    assert upstream.attempts == 1
    assert not upstream.rejected


@pytest.mark.parametrize("tool", ["coding", "coding-claude"])
async def test_progress_notifications_increase_and_carry_the_partial_text(
    server: Server, fake: FakeServer, tool: str
) -> None:
    upstream = fake.openai if tool == "coding" else fake.anthropic
    upstream.default = Behavior(chunks=("word ",) * 8, chunk_delay=0.1)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with mcp_session(server.mcp) as session:
        result = await session.call_tool(
            tool, {"task": "count", "max_tokens": 64}, progress_callback=on_progress
        )
    assert not result.isError
    assert result.structuredContent is not None
    assert result.structuredContent["output"] == "word " * 8
    assert len(seen) >= 3
    values = [progress for progress, _ in seen]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert any(message and message.startswith("word") for _, message in seen)
    assert (
        upstream.requests[-1]["max_tokens" if tool == "coding-claude" else "max_completion_tokens"]
        == 64
    )


@pytest.mark.parametrize("tool", ["coding", "coding-claude"])
async def test_context_messages_reach_the_provider(
    server: Server, fake: FakeServer, tool: str
) -> None:
    context = [
        {"role": "assistant", "content": "I wrote reverse() for you."},
        {"role": "user", "content": "Now make it handle None."},
    ]
    async with mcp_session(server.mcp) as session:
        result = await session.call_tool(tool, {"task": "And add a test.", "context": context})
    assert not result.isError
    upstream = fake.openai if tool == "coding" else fake.anthropic
    sent = upstream.requests[-1]["messages"]
    texts = json.dumps(sent)
    assert texts.index("reverse()") < texts.index("handle None") < texts.index("add a test")
    assert not upstream.rejected


async def test_agent_failure_is_an_error_result(server: Server, fake: FakeServer) -> None:
    fake.openai.default = Behavior(status=400, message="messages: prompt is too long")
    async with mcp_session(server.mcp) as session:
        result = await session.call_tool("coding", {"task": "hi"})
    assert result.isError
    assert "prompt is too long" in result.content[0].text
    assert "provider_invalid_request" in result.content[0].text


async def test_invalid_arguments_are_an_error_result_the_model_can_fix(server: Server) -> None:
    async with mcp_session(server.mcp) as session:
        result = await session.call_tool("coding", {"task": "hi", "max_tokens": 100_000})
        missing = await session.call_tool("coding", {"prompt": "hi"})
    assert result.isError
    assert "max_tokens" in result.content[0].text
    assert missing.isError
    assert "task" in missing.content[0].text


async def test_unknown_tool_is_a_json_rpc_error(server: Server) -> None:
    async with mcp_session(server.mcp) as session:
        with pytest.raises(McpError) as raised:
            await session.call_tool("nope", {"task": "hi"})
        assert raised.value.error.code == -32602
        assert "Unknown tool" in raised.value.error.message
        # The session still works afterwards.
        assert len((await session.list_tools()).tools) == 2


async def test_two_concurrent_calls_on_one_session(server: Server, fake: FakeServer) -> None:
    fake.openai.default = Behavior(chunks=("a", "b", "c"), chunk_delay=0.2)
    fake.anthropic.default = Behavior(chunks=("x", "y", "z"), chunk_delay=0.2)
    async with mcp_session(server.mcp) as session:
        started = time.monotonic()
        first, second = await asyncio.gather(
            session.call_tool("coding", {"task": "one"}),
            session.call_tool("coding-claude", {"task": "two"}),
        )
        elapsed = time.monotonic() - started
    assert first.structuredContent is not None
    assert second.structuredContent is not None
    assert first.structuredContent["output"] == "abc"
    assert second.structuredContent["output"] == "xyz"
    # Both ran at once (each takes 0.6 s upstream).
    assert elapsed < 1.1


@pytest.mark.parametrize("tool", ["coding", "coding-claude"])
async def test_cancelling_a_call_stops_the_upstream_within_a_second(
    server: Server, fake: FakeServer, tool: str
) -> None:
    upstream = fake.openai if tool == "coding" else fake.anthropic
    upstream.default = Behavior(chunks=("tok ",) * 200, chunk_delay=0.05)
    async with mcp_session(server.mcp) as session:
        # The id call_tool will use. mcp 1.x never sends notifications/cancelled by itself
        # (hosts do), so the test sends it through the same session.
        request_id = session._request_id
        async with anyio.create_task_group() as group:
            group.start_soon(session.call_tool, tool, {"task": "long"})
            await eventually(lambda: upstream.inflight > 0)
            await anyio.sleep(0.3)
            cancelled_at = time.monotonic()
            await session.send_notification(
                types.ClientNotification(
                    types.CancelledNotification(
                        params=types.CancelledNotificationParams(
                            requestId=request_id, reason="the user pressed Esc"
                        )
                    )
                )
            )
            disconnect = await upstream.wait_disconnect(within=1.0)
            # The server sends no response for a cancelled request: stop waiting for one.
            group.cancel_scope.cancel()
        assert disconnect.at - cancelled_at < 1.0
        assert disconnect.chunks_sent < 200
        upstream.default = Behavior()
        again = await session.call_tool(tool, {"task": "short"})
        assert not again.isError
    registry = server.app[METRICS_KEY].registry
    assert (
        registry.get_sample_value(
            "agentsmcp_mcp_tool_calls_total", {"tool": tool, "outcome": "cancelled"}
        )
        == 1
    )
    assert (
        registry.get_sample_value("agentsmcp_mcp_cancellations_total", {"reason": "notification"})
        == 1
    )
    assert (
        registry.get_sample_value(
            "agentsmcp_agent_runs_total",
            {
                "agent": tool,
                "provider": "openai" if tool == "coding" else "anthropic",
                "outcome": "cancelled",
            },
        )
        == 1
    )


async def test_session_id_is_minted_but_not_required(server: Server) -> None:
    async with mcp_session(server.mcp) as session:
        await session.send_ping()
    assert SESSION_HEADER
