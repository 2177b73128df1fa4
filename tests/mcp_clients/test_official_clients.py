"""The official MCP clients outside the main virtualenv against /mcp: mcp 2.x (``Client`` in
automatic and legacy mode) and the TypeScript SDK (``Client`` + ``StreamableHTTPClientTransport``).

Each lists the tools, calls the agent without and with progress (also two calls at once), cancels
a call in flight (the strict fake upstream records the dropped provider request) and sees an
upstream failure as an ``isError`` result. The client programs print a JSON report; this module
asserts on it and on what the server and the fake upstream recorded.
"""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import make_token
from tests.fakes import FakeServer
from tests.reliability.conftest import LiveServer

from .conftest import AGENT, DESCRIPTION, client_command, run_client

pytestmark = pytest.mark.slow

TEXT_CHUNKS = ("The ", "answer ", "is ", "forty", "-", "two", ".")
FAILURE = "The model `gpt-4o` does not support this request."

# What the fake upstream does in each step of the client programs.
PLAN: dict[str, Any] = {
    "provider": "openai",
    "tool": AGENT,
    "arguments": {"task": "What is six times seven?"},
    "plain": {"chunks": list(TEXT_CHUNKS)},
    # Long enough for several progress notifications.
    "progress": {"chunks": list(TEXT_CHUNKS), "chunk_delay": 0.4},
    # Far longer than the test, and quiet for 2 s between chunks: only cancelling ends it in
    # time, and the server cannot learn of the cancel from a write that fails.
    "slow": {"chunks": ["tick "] * 50, "chunk_delay": 2.0},
    "failing": {"status": 400, "message": FAILURE},
    # TypeScript only: a 3 s call under a 1 s request timeout that progress resets.
    "long": {"chunks": ["slow "] * 10, "chunk_delay": 0.3},
    "host_timeout_ms": 1000,
}

CLIENTS = {
    # name: (program, plan overrides, negotiated protocol version)
    "mcp2-auto": ("mcp2", {"mode": "auto"}, "2026-07-28"),
    "mcp2-legacy": ("mcp2", {"mode": "legacy"}, "2025-11-25"),
    "typescript": ("typescript", {}, "2025-11-25"),
}


def _text(result: dict[str, Any]) -> str:
    return "".join(result["text"])


@pytest.mark.parametrize("name", list(CLIENTS))
async def test_an_official_client_uses_the_agent_tool(
    name: str, mcp_server: LiveServer, fake: FakeServer
) -> None:
    program, overrides, version = CLIENTS[name]
    plan = {
        **PLAN,
        **overrides,
        "url": f"{mcp_server.url}/mcp",
        "token": make_token(),
        "fake_url": fake.base_url,
    }

    run = await run_client(client_command(program), plan)
    report = run.report

    assert "error" not in report, f"{report}\n{run.stderr}"
    assert run.returncode == 0, run.stderr
    assert report["protocol_version"] == version
    # Legacy: initialize's serverInfo; 2026-07-28: the _meta stamp on server/discover.
    assert report["server_info"] is not None, "the client sees who the server is"
    assert report["server_info"]["name"] == "agentsmcp"
    assert report["server_info"]["version"]

    tools = {tool["name"]: tool for tool in report["tools"]}
    assert list(tools) == [AGENT], "one tool per exposed agent; 'internal' is hidden"
    assert tools[AGENT]["description"] == DESCRIPTION
    schema = tools[AGENT]["inputSchema"]
    assert schema["type"] == "object"
    assert "properties" in schema
    assert "outputSchema" in tools[AGENT]

    answer = "".join(TEXT_CHUNKS)
    assert report["call"]["is_error"] is False
    assert answer in _text(report["call"])
    assert report["call"]["structured"], "structuredContent beside the text block"

    progress_call = report["progress_call"]
    assert progress_call["is_error"] is False
    assert answer in _text(progress_call)
    values = [item["progress"] for item in progress_call["progress"]]
    assert len(values) >= 2, progress_call["progress"]
    assert all(a < b for a, b in itertools.pairwise(values)), values

    if name == "typescript":
        long_call = report["long_call"]
        assert long_call["is_error"] is False
        assert "slow " * 10 in _text(long_call)
        assert long_call["progress_count"] >= 3, long_call

    # Two calls at once on one session: each its own answer and its own increasing progress
    # (the fake's progress behaviour stays in place for them).
    assert len(report["concurrent"]) == 2
    for concurrent in report["concurrent"]:
        assert concurrent["is_error"] is False
        assert answer in _text(concurrent)
        assert len(concurrent["progress"]) >= 2, concurrent
        assert all(a < b for a, b in itertools.pairwise(concurrent["progress"]))

    cancel = report["cancel"]
    assert "finished" not in cancel, cancel
    assert cancel["upstream_stopped_after_s"] < 1.0, cancel
    assert cancel["upstream_inflight"] == 0, cancel

    failure = report["failure"]
    assert failure["is_error"] is True
    assert _text(failure), "an error result carries a message the model can act on"

    assert report["unknown_tool"]["raised"] is True
    assert report["unknown_tool"]["code"] == -32602

    # The server's own account of the same calls.
    outcomes = await tool_call_outcomes(mcp_server)
    ok = 5 if name == "typescript" else 4  # the long call
    assert outcomes == {"ok": ok, "cancelled": 1, "tool_error": 1, "error": 0}, outcomes


async def tool_call_outcomes(server: LiveServer) -> dict[str, float]:
    """``agentsmcp_mcp_tool_calls_total`` of the agent's tool by outcome (the server's /metrics)."""
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    outcomes: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "agentsmcp_mcp_tool_calls":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("tool") == AGENT:
                outcomes[sample.labels["outcome"]] = sample.value
    return outcomes


async def test_stateless_answers_fit_the_revisions_own_types(
    mcp_server: LiveServer, fake: FakeServer
) -> None:
    """Every 2026-07-28 answer validates (strictly) against mcp-types' model of its method, and
    loses nothing in a round trip through it (no member the revision does not define)."""
    plan = {
        **PLAN,
        "url": f"{mcp_server.url}/mcp",
        "token": make_token(),
        "fake_url": fake.base_url,
    }
    run = await run_client(client_command("mcp2-schema"), plan)
    report = run.report
    assert "error" not in report, f"{report}\n{run.stderr}"
    assert run.returncode == 0, run.stderr
    checks = report["checks"]
    assert len(checks) == 9, checks
    for method, outcome in checks.items():
        assert outcome["valid"], (method, outcome)
        assert outcome["dropped"] == [], (method, outcome)
    assert report["server_info"]["name"] == "agentsmcp"
    assert report["is_error"] is True
