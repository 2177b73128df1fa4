"""The official a2a-sdk 1.3.0 client (``.venv-a2a``, ``make a2a-sdk``) against the server: it
discovers the cards, sends messages streaming and not, gets, lists and cancels tasks, follows a
conversation through contextId, talks 0.3 through the SDK's compatibility transport, and finds
an agent with access rules (no public card) through the authenticated extended card.
A missing SDK skips, and CI=true turns a skip into a failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import DEFAULT_AGENTS, agent_config
from tests.reliability.conftest import LiveServer, serve_app

HERE = Path(__file__).resolve().parent
A2A_PYTHON = HERE.parents[1] / ".venv-a2a" / "bin" / "python"
CLIENT_TIMEOUT = 120.0

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(fake: FakeServer) -> AsyncIterator[LiveServer]:
    async with serve_app(agent_config(fake, max_retries=0)) as live:
        yield live


async def run_client(base: str, steps: list[dict[str, Any]], subject: str = "alice") -> Any:
    if not A2A_PYTHON.exists():
        pytest.skip("the a2a-sdk client is not installed: run `make a2a-sdk`")
    plan = {"base": base, "token": make_token(subject), "agent": "coding", "steps": steps}
    process = await asyncio.create_subprocess_exec(
        str(A2A_PYTHON),
        str(HERE / "a2a_client.py"),
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
    return json.loads(stdout.decode().strip().splitlines()[-1])


def send(name: str, text: str, **options: Any) -> dict[str, Any]:
    return {"op": "send", "name": name, "text": text, "message_id": f"m-{name}", **options}


async def test_discovery(server: LiveServer) -> None:
    report = await run_client(server.url, [{"op": "discover", "name": "cards"}])
    cards = report["cards"]
    assert cards["server_skills"] == ["coding", "coding-claude"]
    assert cards["agent_name"] == "coding"
    assert cards["interfaces"] == [
        {
            "url": f"{server.url}/a2a/coding",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }
    ]
    assert cards["streaming"] is True
    assert cards["schemes"] == ["bearer"]


async def test_send_get_list_and_a_conversation(server: LiveServer, fake: FakeServer) -> None:
    report = await run_client(
        server.url,
        [
            send("first", "My name is Ada"),
            send("second", "What is my name?", streaming=True, context="first"),
            {"op": "get", "name": "got", "task": "first"},
            {"op": "list", "name": "listed"},
        ],
    )
    first, second = report["first"], report["second"]
    assert first["events"] == ["task"]
    assert first["state"] == "TASK_STATE_COMPLETED"
    assert first["answer"] == "Hello, world!"
    assert second["events"][0] == "task"
    assert "artifact_update" in second["events"]
    assert second["state"] == "TASK_STATE_COMPLETED"
    assert second["answer"] == "Hello, world!"
    assert second["context"] == first["context"]
    assert "My name is Ada" in str(fake.openai.requests[-1]["messages"])
    assert report["got"] == {
        "state": "TASK_STATE_COMPLETED",
        "context": first["context"],
        "history": 2,
    }
    assert report["listed"]["tasks"] == [second["task"], first["task"]]


async def test_cancel(server: LiveServer, fake: FakeServer) -> None:
    fake.openai.script(Behavior(chunk_delay=1.0, chunks=("slow",) * 20))
    report = await run_client(
        server.url,
        [
            send("slow", "take your time", return_immediately=True),
            {"op": "cancel", "name": "canceled", "task": "slow"},
            {"op": "get", "name": "after", "task": "slow"},
            {"op": "error", "do": "cancel", "name": "again", "task": "slow"},
        ],
    )
    assert report["slow"]["state"] == "TASK_STATE_SUBMITTED"
    assert report["canceled"]["state"] == "TASK_STATE_CANCELED"
    assert report["after"]["state"] == "TASK_STATE_CANCELED"
    assert report["again"]["error"] == "TaskNotCancelableError", report


async def test_a_0_3_client(server: LiveServer) -> None:
    report = await run_client(
        server.url,
        [
            send("old", "hello", version="0.3"),
            send("old_stream", "hello", version="0.3", streaming=True),
            {"op": "get", "name": "got", "task": "old", "version": "0.3"},
        ],
    )
    assert report["old"]["state"] == "TASK_STATE_COMPLETED"
    assert report["old"]["answer"] == "Hello, world!"
    assert report["old_stream"]["state"] == "TASK_STATE_COMPLETED"
    assert report["old_stream"]["events"][0] == "task"
    assert report["got"]["state"] == "TASK_STATE_COMPLETED"


async def test_another_subjects_task_is_not_found(server: LiveServer) -> None:
    alices = (await run_client(server.url, [send("mine", "hi")]))["mine"]["task"]
    steps = [{"op": "error", "do": "get", "name": "theirs", "task": alices}]
    report = await run_client(server.url, steps, subject="bob")
    assert report["theirs"]["error"] == "TaskNotFoundError", report


# coding-claude is guarded: only alice may use it, so it has no public card.
GUARDED = {
    **DEFAULT_AGENTS,
    "coding-claude": {**DEFAULT_AGENTS["coding-claude"], "access": [{"subjects": ["alice"]}]},
}


@pytest.fixture
async def guarded_server(fake: FakeServer) -> AsyncIterator[LiveServer]:
    async with serve_app(agent_config(fake, agents=GUARDED, max_retries=0)) as live:
        yield live


def extended(name: str, agent: str, **options: Any) -> dict[str, Any]:
    return {"op": "extended", "name": name, "agent": agent, "message_id": f"m-{name}", **options}


async def test_a_caller_allowed_a_guarded_agent_gets_its_extended_card(
    guarded_server: LiveServer,
) -> None:
    steps = [
        {"op": "discover", "name": "public"},
        extended("card", "coding-claude", text="hi"),
        extended("card03", "coding-claude", version="0.3"),
    ]
    report = await run_client(guarded_server.url, steps)
    assert report["public"]["server_skills"] == ["coding"]
    card = report["card"]
    assert (card["name"], card["skills"], card["extended"]) == (
        "coding-claude",
        ["coding-claude"],
        True,
    )
    assert card["interfaces"] == [
        {
            "url": f"{guarded_server.url}/a2a/coding-claude",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }
    ]
    assert card["schemes"] == ["bearer"]
    assert card["sent"]["state"] == "TASK_STATE_COMPLETED"
    assert card["sent"]["answer"] == "Hello, world!"
    assert (report["card03"]["name"], report["card03"]["extended"]) == ("coding-claude", True)


async def test_a_forbidden_caller_gets_the_unknown_agent_answer(
    guarded_server: LiveServer,
) -> None:
    steps = [
        {"op": "error", "do": "extended", "name": "guarded", "agent": "coding-claude"},
        {"op": "error", "do": "extended", "name": "unknown", "agent": "coding-claudx"},
    ]
    report = await run_client(guarded_server.url, steps, subject="bob")
    guarded, unknown = report["guarded"], report["unknown"]
    assert guarded["error"] is not None, report
    assert "404" in guarded["message"]
    assert guarded["error"] == unknown["error"]
    assert guarded["message"].replace("coding-claude", "@") == unknown["message"].replace(
        "coding-claudx", "@"
    )
