"""The agent loop of tools agents against a real MCP tool server (FastMCP) and the strict fake
LLM upstreams, which answer with tool calls in each provider's wire format (streamed as
tool-call deltas when the run streams) and refuse requests the real APIs would refuse."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.app.conftest import bearer, make_token
from tests.fakes import Behavior, FakeServer, FakeUpstream, ScriptedCall
from tests.sse import sse_events

from .conftest import (
    TOKEN_ENV,
    TOOL_TOKEN,
    Running,
    StartServer,
    ToolProcess,
    calc_server,
    start_tool_server,
    tools_agent,
    tools_config,
)

CASES = [
    pytest.param(provider, stream, id=f"{provider}-{'stream' if stream else 'plain'}")
    for provider in ("openai", "anthropic")
    for stream in (False, True)
]


def upstream(fake: FakeServer, provider: str) -> FakeUpstream:
    return fake.openai if provider == "openai" else fake.anthropic


def calls(*items: tuple[str, str, str]) -> Behavior:
    return Behavior(
        chunks=(), tool_calls=tuple(ScriptedCall(name, args, id=i) for i, name, args in items)
    )


async def run(
    server: Running, agent: str, stream: bool, text: str = "What is 2 + 3?"
) -> dict[str, Any]:
    """The final run object (the run.completed / run.failed event's when streaming), with the
    stream's event names under ``_events`` and parsed events under ``_data``."""
    async with server.http.post(
        f"{server.url}/v1/agents/{agent}/runs",
        json={"input": text, "stream": stream},
        headers=bearer(make_token()),
    ) as response:
        if not stream:
            body: dict[str, Any] = await response.json()
            body["_status"] = response.status
            return body
        assert response.status == 200
        events = sse_events(await response.text())
    final = json.loads(events[-1][1])
    final["_status"] = 200
    final["_events"] = [name for name, _ in events]
    final["_data"] = [(name, json.loads(data)) for name, data in events]
    return final


def tool_results(provider: str, request: dict[str, Any]) -> dict[str, str]:
    """Tool call id -> result text, as the provider received them in its own wire format."""
    if provider == "openai":
        return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}
    results = {}
    for turn in request["messages"]:
        if turn["role"] == "user" and isinstance(turn["content"], list):
            for block in turn["content"]:
                if block["type"] == "tool_result":
                    results[block["tool_use_id"]] = block.get("content", "")
    return results


def offered(provider: str, request: dict[str, Any]) -> list[str]:
    if provider == "openai":
        return sorted(tool["function"]["name"] for tool in request.get("tools", []))
    return sorted(tool["name"] for tool in request.get("tools", []))


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_two_step_run_calls_a_tool_and_uses_its_answer(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    config = tools_config(
        fake, {"calc": calc_server(tool_server)}, {"calc-agent": tools_agent(provider, ["calc"])}
    )
    server = await start_server(config)
    model = upstream(fake, provider)
    model.script(
        calls(("call_add", "add", '{"a": 2, "b": 3}')),
        Behavior(chunks=("The sum ", "is 5.")),
    )
    body = await run(server, "calc-agent", stream)

    assert body["_status"] == 200, body
    assert body["status"] == "completed"
    assert body["output"] == "The sum is 5."
    assert not model.rejected
    first, second = model.requests
    assert offered(provider, first) == ["add", "big", "book", "fail", "slow"]
    # The tool's real answer went back to the model as a tool result of that call.
    assert tool_results(provider, second) == {"call_add": "5.0"}
    (step1, step2) = body["steps"]
    assert step1["finish_reason"] == "tool_calls"
    (call,) = step1["tool_calls"]
    assert (call["name"], call["tool_server"], call["outcome"]) == ("add", "calc", "ok")
    assert call["duration_ms"] > 0
    assert step2["tool_calls"] == []
    assert step2["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == sum(s["usage"]["total_tokens"] for s in body["steps"])
    if stream:
        assert body["_events"] == [
            "run.started",
            "run.tool_call",
            "run.tool_result",
            "run.delta",
            "run.delta",
            "run.completed",
        ]
        _, started = body["_data"][1]
        assert (started["name"], started["tool_server"], started["step"]) == ("add", "calc", 1)
        assert json.loads(started["arguments"]) == {"a": 2, "b": 3}
        _, result = body["_data"][2]
        assert (result["outcome"], result["output"]) == ("ok", "5.0")
    assert await server.ready() == 200


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_parallel_calls_run_together_and_each_result_goes_back(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    config = tools_config(
        fake,
        {"calc": calc_server(tool_server, name_prefix="calc_")},
        {"calc-agent": tools_agent(provider, ["calc"])},
    )
    server = await start_server(config)
    model = upstream(fake, provider)
    model.script(
        calls(
            ("call_s1", "calc_slow", '{"seconds": 1}'),
            ("call_s2", "calc_slow", '{"seconds": 1}'),
            ("call_add", "calc_add", '{"a": 1, "b": 1}'),
        ),
        Behavior(chunks=("done",)),
    )
    started = time.monotonic()
    body = await run(server, "calc-agent", stream)
    elapsed = time.monotonic() - started

    assert body["status"] == "completed", body
    # Two 1 s calls in parallel: well under the 2 s they would take one after the other.
    assert elapsed < 1.9
    assert tool_results(provider, model.requests[1]) == {
        "call_s1": "finally done",
        "call_s2": "finally done",
        "call_add": "2.0",
    }
    assert offered(provider, model.requests[0])[0].startswith("calc_")
    outcomes = {c["id"]: c["outcome"] for c in body["steps"][0]["tool_calls"]}
    assert outcomes == {"call_s1": "ok", "call_s2": "ok", "call_add": "ok"}


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_max_steps_ends_the_run_incomplete(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    agent = tools_agent(provider, ["calc"], max_steps=2)
    config = tools_config(fake, {"calc": calc_server(tool_server)}, {"looper": agent})
    server = await start_server(config)
    model = upstream(fake, provider)
    model.default = calls(("call_x", "add", '{"a": 1, "b": 2}'))
    body = await run(server, "looper", stream)

    assert body["_status"] == 200
    assert body["status"] == "incomplete"
    assert body["error"]["code"] == "max_steps_exceeded"
    assert body["error"]["type"] == "run_limit"
    assert len(model.requests) == 2
    assert [len(step["tool_calls"]) for step in body["steps"]] == [1, 0]
    assert body["finish_reason"] == "tool_calls"
    if stream:
        assert body["_events"].count("run.tool_call") == 1
        assert body["_events"][-1] == "run.completed"
    assert await server.ready() == 200


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_tool_timeout_is_a_tool_error_and_the_run_goes_on(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    agent = tools_agent(provider, ["calc"], tool_timeout_seconds=0.5)
    config = tools_config(fake, {"calc": calc_server(tool_server)}, {"waiter": agent})
    server = await start_server(config)
    model = upstream(fake, provider)
    seconds = {"openai": 30.1, "anthropic": 30.2}[provider] + (0.01 if stream else 0)
    model.script(
        calls(("call_slow", "slow", json.dumps({"seconds": seconds}))),
        # The next model call takes a while: the run (and its MCP session) is still going on.
        Behavior(chunks=("It timed out.",), header_delay=2),
    )
    started = time.monotonic()
    running = asyncio.ensure_future(run(server, "waiter", stream))
    # The server is told to stop the call it was given up on (notifications/cancelled) at once,
    # not only when the run's session ends.
    while f"{seconds:g}" not in tool_server.cancelled()[1::2]:
        assert not running.done(), "the tool server saw no cancellation before the run ended"
        await asyncio.sleep(0.05)
    body = await running

    assert time.monotonic() - started < 10
    assert body["status"] == "completed"
    (call,) = body["steps"][0]["tool_calls"]
    assert call["outcome"] == "timeout"
    assert 400 <= call["duration_ms"] < 5000
    fed_back = tool_results(provider, model.requests[1])["call_slow"]
    assert fed_back.startswith("Error: tool server 'calc' did not answer within 0.5 s")
    assert await server.ready() == 200


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_arguments_that_fail_the_schema_never_reach_the_tool(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    config = tools_config(
        fake, {"calc": calc_server(tool_server)}, {"booker": tools_agent(provider, ["calc"])}
    )
    server = await start_server(config)
    model = upstream(fake, provider)
    model.script(
        calls(
            ("call_bad", "book", '{"city": "paris", "nights": 30}'),
            ("call_ghost", "delete_everything", "{}"),
            ("call_err", "fail", '{"reason": "disk full"}'),
        ),
        Behavior(chunks=("Sorry.",)),
    )
    body = await run(server, "booker", stream)

    assert body["status"] == "completed"
    outcomes = {c["id"]: c["outcome"] for c in body["steps"][0]["tool_calls"]}
    assert outcomes == {
        "call_bad": "invalid_arguments",
        "call_ghost": "rejected",
        "call_err": "error",
    }
    results = tool_results(provider, model.requests[1])
    assert results["call_bad"].startswith("Error: Invalid arguments for tool 'book'")
    assert "city" in results["call_bad"]
    assert "nights" in results["call_bad"]
    assert "no tool named 'delete_everything'" in results["call_ghost"]
    assert "failed on purpose: disk full" in results["call_err"]
    ghost = next(c for c in body["steps"][0]["tool_calls"] if c["id"] == "call_ghost")
    assert ghost["tool_server"] is None


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_tool_server_down_garbage_or_not_mcp(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    garbage_server: str,
    not_mcp_server: str,
    closed_port: str,
    provider: str,
    stream: bool,
) -> None:
    # A server that dies after its tools were listed (cached), and three that never work.
    dying = start_tool_server()
    try:
        servers = {
            "calc": calc_server(tool_server),
            "dying": {"url": dying.url, "auth": "bearer", "name_prefix": "d_"},
            "garbage": {"url": garbage_server, "timeout_seconds": 2},
            "notmcp": {"url": not_mcp_server, "timeout_seconds": 2},
            "down": {"url": closed_port, "timeout_seconds": 2},
        }
        config = tools_config(
            fake,
            servers,
            {"a": tools_agent(provider, list(servers))},
            tool_server_tokens={TOKEN_ENV: TOOL_TOKEN, "TOOL_SERVER_DYING_TOKEN": TOOL_TOKEN},
        )
        server = await start_server(config)
        model = upstream(fake, provider)
        model.script(Behavior(chunks=("Listing done.",)))
        first = await run(server, "a", stream)
        assert first["status"] == "completed", first
        # Only the servers that answered offered tools.
        names = offered(provider, model.requests[0])
        assert "add" in names
        assert "d_add" in names
        assert len(names) == 10
    finally:
        dying.stop()
    model.script(
        calls(("call_dead", "d_add", '{"a": 1, "b": 1}'), ("call_ok", "add", '{"a": 1, "b": 1}')),
        Behavior(chunks=("One failed.",)),
    )
    body = await run(server, "a", stream)
    assert body["status"] == "completed", body
    outcomes = {c["id"]: c["outcome"] for c in body["steps"][0]["tool_calls"]}
    assert outcomes == {"call_dead": "error", "call_ok": "ok"}
    results = tool_results(provider, model.requests[-1])
    assert results["call_dead"].startswith("Error: tool server 'dying'")
    assert results["call_ok"] == "2.0"
    assert await server.ready() == 200
    async with server.http.get(server.url + "/metrics", headers=bearer(make_token())) as response:
        metrics = await response.text()
    for name in ("garbage", "notmcp", "down"):
        assert f'agentsmcp_tool_list_refresh_failures_total{{tool_server="{name}"}}' in metrics
    assert (
        'agentsmcp_tool_calls_total{agent="a",outcome="error",tool="add",tool_server="dying"} 1.0'
        in metrics
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_sdk_on_chat_completions_gets_the_loops_answer(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer, stream: bool
) -> None:
    import openai

    agents = {
        "calc-agent": tools_agent("anthropic", ["calc"]),
        "looper": tools_agent("openai", ["calc"], max_steps=1),
    }
    server = await start_server(tools_config(fake, {"calc": calc_server(tool_server)}, agents))
    fake.anthropic.script(
        calls(("toolu_1", "add", '{"a": 2, "b": 3}')), Behavior(chunks=("It is ", "5."))
    )
    fake.openai.default = calls(("call_1", "add", '{"a": 2, "b": 3}'))
    sdk = openai.AsyncOpenAI(api_key=make_token(), base_url=server.url + "/v1", max_retries=0)
    try:
        results = []
        for agent in ("calc-agent", "looper"):
            messages: Any = [{"role": "user", "content": "2 + 3?"}]
            if stream:
                chunks = await sdk.chat.completions.create(
                    model=agent, messages=messages, stream=True
                )
                text, finish = "", None
                async for chunk in chunks:
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
                        assert not chunk.choices[0].delta.tool_calls
                        finish = chunk.choices[0].finish_reason or finish
                results.append((text, finish))
            else:
                completion = await sdk.chat.completions.create(model=agent, messages=messages)
                choice = completion.choices[0]
                assert choice.message.tool_calls is None
                results.append((choice.message.content, choice.finish_reason))
    finally:
        await sdk.close()
    # The server ran the tools itself: the client gets the answer, never the agent's tool calls;
    # a run cut by max_steps is "length".
    assert results == [("It is 5.", "stop"), ("", "length")]


async def test_a_tool_server_that_never_answers_holds_no_run_for_long(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer, silent_server: str
) -> None:
    servers = {
        "calc": calc_server(tool_server),
        "silent": {"url": silent_server, "timeout_seconds": 1},
    }
    agent = tools_agent("openai", ["calc", "silent"])
    server = await start_server(tools_config(fake, servers, {"a": agent}))
    fake.openai.default = Behavior(chunks=("fine",))
    # The first runs may wait for the startup listing (at most the server's 1 s timeout)...
    first = await run(server, "a", False)
    assert first["status"] == "completed"
    # ...later ones do not ask the silent server again for a while.
    started = time.monotonic()
    for _ in range(3):
        body = await run(server, "a", True)
        assert body["status"] == "completed"
    assert time.monotonic() - started < 1.5
    assert offered("openai", fake.openai.requests[-1]) == ["add", "big", "book", "fail", "slow"]
    assert await server.ready() == 200


async def test_only_allowed_tools_are_offered_or_run(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer
) -> None:
    servers = {"calc": calc_server(tool_server, allowed_tools=["add", "slow"], name_prefix="c_")}
    server = await start_server(tools_config(fake, servers, {"a": tools_agent("openai", ["calc"])}))
    fake.openai.script(
        calls(("call_1", "c_book", '{"city": "Paris", "nights": 2}'), ("call_2", "book", "{}")),
        Behavior(chunks=("no",)),
    )
    body = await run(server, "a", False)
    assert offered("openai", fake.openai.requests[0]) == ["c_add", "c_slow"]
    outcomes = [c["outcome"] for c in body["steps"][0]["tool_calls"]]
    assert outcomes == ["rejected", "rejected"]
    async with server.http.get(server.url + "/metrics", headers=bearer(make_token())) as response:
        metrics = await response.text()
    # Made-up names are counted as "other", never as their own label values.
    assert (
        'agentsmcp_tool_calls_total{agent="a",outcome="rejected",tool="other",tool_server="other"}'
        " 2.0" in metrics
    )
    assert 'tool="c_book"' not in metrics
