"""The OpenAI Agents SDK (``openai-agents`` in ``.venv-agents``, ``make agents-sdk``) runs an agent
with a Python function tool to completion over our Responses API, with ``Runner.run`` and
``Runner.run_streamed``, over an OpenAI and an Anthropic agent on the strict fake upstreams,
sending the whole conversation each turn or chaining turns by ``previous_response_id``.
A missing SDK skips, and CI=true turns a skip into a failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.responses_api._store import RESPONSE_STORE_KEY
from tests.app.conftest import make_token
from tests.fakes import Behavior, FakeServer, FakeUpstream, ScriptedCall
from tests.fakes.appconfig import agent_config
from tests.reliability.conftest import LiveServer, serve_app

HERE = Path(__file__).resolve().parent
AGENTS_PYTHON = HERE.parents[1] / ".venv-agents" / "bin" / "python"
CLIENT_TIMEOUT = 120.0

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(fake: FakeServer) -> AsyncIterator[LiveServer]:
    async with serve_app(agent_config(fake, max_retries=0)) as live:
        yield live


async def run_agent(plan: dict[str, Any]) -> dict[str, Any]:
    if not AGENTS_PYTHON.exists():
        pytest.skip("the OpenAI Agents SDK is not installed: run `make agents-sdk`")
    process = await asyncio.create_subprocess_exec(
        str(AGENTS_PYTHON),
        str(HERE / "agents_client.py"),
        json.dumps(plan),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode(errors="replace")
    report: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return report


def upstream(fake: FakeServer, agent: str) -> FakeUpstream:
    return fake.anthropic if agent.endswith("claude") else fake.openai


@pytest.mark.parametrize("agent", ["coding", "coding-claude"])
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("chained", [False, True], ids=["full-input", "previous-response-id"])
async def test_agent_with_a_function_tool_runs_to_completion(
    server: LiveServer, fake: FakeServer, agent: str, streamed: bool, chained: bool
) -> None:
    target = upstream(fake, agent)
    target.script(
        Behavior(chunks=(), tool_calls=(ScriptedCall("get_weather", '{"city":"Paris"}'),)),
        Behavior(chunks=("Paris: ", "18C and sunny.")),
    )
    report = await run_agent(
        {
            "base_url": f"{server.url}/v1",
            "token": make_token(),
            "model": agent,
            "streamed": streamed,
            "chained": chained,
        }
    )
    assert report["final_output"] == "Paris: 18C and sunny."
    assert report["tool_calls"] == ["Paris"]
    assert report["responses"] == 2
    assert report["last_response_id"].startswith("resp_")
    # The tool's result reached the provider in its own format.
    assert "18C and sunny in Paris" in json.dumps(target.requests[-1])
    assert not target.rejected
    # Chained, the second turn's upstream request still holds the first turn (from the store).
    assert "Weather in Paris?" in json.dumps(target.requests[-1])
    last = await server.app[RESPONSE_STORE_KEY].load("alice", report["last_response_id"])
    assert last is not None
    assert (last.response["previous_response_id"] is not None) is chained
    if streamed:
        events = report["events"]
        assert events.count("response.completed") == 2
        assert "response.function_call_arguments.done" in events
        assert "response.output_text.delta" in events
