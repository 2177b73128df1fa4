"""End to end through our MCP endpoint: the official mcp client calls a tools agent over /mcp,
the agent calls a real MCP tool server (FastMCP), and the client sees progress naming the tool
and the final structured result."""

from __future__ import annotations

import pytest

from app.app_keys import METRICS_KEY
from tests.app.mcp.conftest import mcp_session
from tests.fakes import Behavior, FakeServer, ScriptedCall

from .conftest import StartServer, ToolProcess, calc_server, tools_agent, tools_config


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_mcp_client_calls_a_tools_agent_and_sees_the_tool_in_progress(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer, provider: str
) -> None:
    config = tools_config(
        fake,
        {"calc": calc_server(tool_server)},
        {"helper": tools_agent(provider, ["calc"], description="Does sums slowly.")},
        mcp={"progress_interval_seconds": 0.1, "keepalive_seconds": 0.1},
    )
    server = await start_server(config)
    model = fake.openai if provider == "openai" else fake.anthropic
    model.script(
        Behavior(chunks=(), tool_calls=(ScriptedCall("slow", '{"seconds": 0.6}', id="call_s"),)),
        Behavior(chunks=("The tool said: ", "finally done.")),
    )
    messages: list[str] = []
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)
        messages.append(message or "")

    async with mcp_session(server.url + "/mcp") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["helper"].description == "Does sums slowly."
        result = await session.call_tool(
            "helper", {"task": "Wait for the slow tool."}, progress_callback=on_progress
        )

    assert not result.isError, result
    assert result.structuredContent is not None
    assert result.structuredContent["output"] == "The tool said: finally done."
    assert result.structuredContent["agent"] == "helper"
    assert result.structuredContent["finish_reason"] == "stop"
    assert "Running tool slow." in messages
    assert progress == sorted(progress)
    assert len(set(progress)) == len(progress)
    registry = server.app[METRICS_KEY].registry
    assert (
        registry.get_sample_value(
            "agentsmcp_tool_calls_total",
            {"agent": "helper", "tool_server": "calc", "tool": "slow", "outcome": "ok"},
        )
        == 1
    )
    assert registry.get_sample_value("agentsmcp_agent_run_steps_sum", {"agent": "helper"}) == 2
    duration = registry.get_sample_value(
        "agentsmcp_tool_call_duration_seconds_sum", {"tool_server": "calc", "tool": "slow"}
    )
    assert duration is not None
    assert duration >= 0.6


async def test_an_incomplete_run_is_an_error_result_naming_the_limit(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer
) -> None:
    config = tools_config(
        fake,
        {"calc": calc_server(tool_server)},
        {"looper": tools_agent("openai", ["calc"], max_steps=1)},
    )
    server = await start_server(config)
    fake.openai.default = Behavior(chunks=(), tool_calls=(ScriptedCall("add", '{"a": 1, "b": 1}'),))
    async with mcp_session(server.url + "/mcp") as session:
        result = await session.call_tool("looper", {"task": "loop"})
    assert result.isError
    assert "max_steps_exceeded" in result.content[0].text
