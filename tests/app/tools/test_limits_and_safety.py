"""Limits of tools agents that end or cut a run, and the safety rules: tool server secrets never
reach logs, metrics or the model, and tool results are capped untrusted data."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from app.app_keys import METRICS_KEY
from app.observability.logging import configure_logging
from tests.app.conftest import bearer, make_token
from tests.fakes import Behavior, FakeServer, ScriptedCall
from tests.fakes.appconfig import ANTHROPIC_KEY, OPENAI_KEY

from .conftest import (
    TOKEN_ENV,
    TOOL_TOKEN,
    StartServer,
    ToolProcess,
    calc_server,
    tools_agent,
    tools_config,
)
from .test_agent_loop import CASES, run, tool_results, upstream


def call(name: str, arguments: str, call_id: str = "call_1") -> Behavior:
    return Behavior(chunks=(), tool_calls=(ScriptedCall(name, arguments, id=call_id),))


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_a_big_result_is_cut_before_the_model_sees_it(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    agent = tools_agent(provider, ["calc"], max_tool_result_chars=1000)
    server = await start_server(
        tools_config(fake, {"calc": calc_server(tool_server)}, {"a": agent})
    )
    model = upstream(fake, provider)
    model.script(call("big", '{"chars": 50000}'), Behavior(chunks=("ok",)))
    body = await run(server, "a", stream)
    (record,) = body["steps"][0]["tool_calls"]
    assert (record["outcome"], record["result_chars"], record["truncated"]) == ("ok", 50000, True)
    fed_back = tool_results(provider, model.requests[1])["call_1"]
    assert fed_back.startswith("x" * 1000 + "\n[truncated: 49000 more characters]")
    assert len(fed_back) < 1100


@pytest.mark.parametrize(("provider", "stream"), CASES)
async def test_the_run_timeout_ends_a_run_waiting_for_a_tool(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    provider: str,
    stream: bool,
) -> None:
    agent = tools_agent(provider, ["calc"], timeout=1.5, tool_timeout_seconds=60)
    server = await start_server(
        tools_config(fake, {"calc": calc_server(tool_server)}, {"a": agent})
    )
    model = upstream(fake, provider)
    model.script(call("slow", '{"seconds": 30}'), Behavior(chunks=("never",)))
    body = await run(server, "a", stream)
    if stream:
        assert body["_events"][-1] == "run.failed"
        assert body["error"]["code"] == "upstream_timeout"
        (record,) = body["steps"][0]["tool_calls"]
        assert record["outcome"] == "timeout"
    else:
        assert body["_status"] == 504
        assert body["error"]["code"] == "upstream_timeout"
    assert "1.5s timeout" in body["error"]["message"]
    assert await server.ready() == 200


class _RawRecords(logging.Handler):
    """Every stdlib record (the SDKs', httpx's and mcp's included), before any redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def raw_logs() -> Iterator[_RawRecords]:
    handler = _RawRecords()
    yield handler
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_tool_server_secrets_reach_no_log_metric_or_model(
    fake: FakeServer,
    tool_server: ToolProcess,
    start_server: StartServer,
    raw_logs: _RawRecords,
    closed_port: str,
) -> None:
    servers = {
        "calc": calc_server(tool_server),
        # The right server with the wrong token: 401 on every request.
        "wrong": {"url": tool_server.url, "auth": "bearer", "name_prefix": "w_"},
        "down": {"url": closed_port, "auth": "bearer", "timeout_seconds": 1},
    }
    wrong_token = "wrong-tool-token-0d9e8f7a6b5c4d3e"
    down_token = "down-tool-token-1a2b3c4d5e6f7a8b"
    config = tools_config(
        fake,
        servers,
        {
            "a": tools_agent("openai", list(servers)),
            "b": tools_agent("anthropic", list(servers)),
        },
        tool_server_tokens={
            TOKEN_ENV: TOOL_TOKEN,
            "TOOL_SERVER_WRONG_TOKEN": wrong_token,
            "TOOL_SERVER_DOWN_TOKEN": down_token,
        },
        logging={"level": "DEBUG", "format": "json"},
    )
    rendered = io.StringIO()
    configure_logging(config, stream=rendered)
    logging.getLogger().addHandler(raw_logs)
    server = await start_server(config)
    steps = [
        Behavior(
            chunks=(),
            tool_calls=(
                ScriptedCall("add", '{"a": 1, "b": 2}', id="c1"),
                ScriptedCall("fail", '{"reason": "no"}', id="c2"),
                ScriptedCall("book", '{"city": "x", "nights": 0}', id="c3"),
                ScriptedCall("w_add", "{}", id="c4"),
            ),
        ),
        Behavior(chunks=("done",)),
    ]
    for agent, model in (("a", fake.openai), ("b", fake.anthropic)):
        model.script(*steps, *steps)
        for stream in (False, True):
            body = await run(server, agent, stream)
            assert body["status"] == "completed", body
            outcomes = {c["id"]: c["outcome"] for c in body["steps"][0]["tool_calls"]}
            # The calc token works (the server refuses anything else); the wrong one is refused,
            # so its tools were never listed and w_add is unknown.
            assert outcomes == {
                "c1": "ok",
                "c2": "error",
                "c3": "invalid_arguments",
                "c4": "rejected",
            }
    async with server.http.get(server.url + "/metrics", headers=bearer(make_token())) as response:
        metrics = await response.text()
    assert 'agentsmcp_tool_list_refresh_failures_total{tool_server="wrong"}' in metrics
    raw = "\n".join(raw_logs.lines)
    output = rendered.getvalue()
    assert "tool list refresh failed" in output
    assert "answered HTTP 401" in output
    assert "httpx" in raw, "expected httpx to log at DEBUG"
    sent_to_models = json.dumps([*fake.openai.requests, *fake.anthropic.requests])
    for secret in (TOOL_TOKEN, wrong_token, down_token):
        for text in (raw, output, metrics, sent_to_models):
            assert secret not in text
    for text in (raw, output, metrics):
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
    assert await server.ready() == 200


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_client_that_leaves_mid_tool_call_cancels_the_run(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer, provider: str
) -> None:
    agent = tools_agent(provider, ["calc"], tool_timeout_seconds=60)
    server = await start_server(
        tools_config(fake, {"calc": calc_server(tool_server)}, {"a": agent})
    )
    model = upstream(fake, provider)
    model.script(call("slow", '{"seconds": 30}'), Behavior(chunks=("never",)))
    response = await server.http.post(
        f"{server.url}/v1/agents/a/runs",
        json={"input": "wait", "stream": True},
        headers=bearer(make_token()),
    )
    seen = b""
    while b"run.tool_call" not in seen:
        seen += await response.content.readany()
    left_at = time.monotonic()
    response.close()
    registry = server.app[METRICS_KEY].registry
    labels = {"agent": "a", "provider": provider, "outcome": "cancelled"}
    while registry.get_sample_value("agentsmcp_agent_runs_total", labels) != 1:
        assert time.monotonic() - left_at < 2, "the run was not cancelled within 2 s"
        await asyncio.sleep(0.02)
    assert registry.get_sample_value("agentsmcp_inflight_runs", {"agent": "a"}) == 0
    # The slow call never got a result, and the model was not called again.
    assert len(model.requests) == 1
    assert await server.ready() == 200


async def test_a_rotated_token_file_is_used_from_the_next_request(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "TOOL_SERVER_CALC_TOKEN"
    token_file.write_text(TOOL_TOKEN + "\n")
    config = tools_config(
        fake,
        {"calc": calc_server(tool_server, list_ttl_seconds=0)},
        {"a": tools_agent("openai", ["calc"])},
        server={"secrets_refresh_seconds": 1},
        secret_files={TOKEN_ENV: str(token_file)},
    )
    server = await start_server(config)
    step = call("add", '{"a": 1, "b": 1}')
    outcomes = []
    for token in (TOOL_TOKEN, "rotated-to-a-token-the-server-refuses", TOOL_TOKEN):
        token_file.write_text(token + "\n")
        await asyncio.sleep(1.1)
        fake.openai.script(step, Behavior(chunks=("ok",)))
        body = await run(server, "a", False)
        (record,) = body["steps"][0]["tool_calls"]
        outcomes.append((record["outcome"], record["error"]))
    assert outcomes[0] == ("ok", None)
    assert outcomes[1][0] == "error"
    assert "answered HTTP 401" in outcomes[1][1]
    assert outcomes[2] == ("ok", None)
