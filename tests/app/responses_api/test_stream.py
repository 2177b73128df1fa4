"""Streamed responses: the typed event sequence with its sequence numbers, read by the official
OpenAI SDK (``responses.stream``, ``stream=True``) and checked against the SDK's event types."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, get_args

import aiohttp
import openai
import pydantic
import pytest
from aiohttp import web
from openai.types.responses import ResponseStreamEvent

from app.server import create_app
from tests.app.conftest import Client, bearer, make_token
from tests.fakes import Behavior, FakeServer, ScriptedCall
from tests.fakes.appconfig import agent_config
from tests.sse import sse_events

from .test_create import AGENTS, TOOLS, upstream

# The SDK's event models by their type (the union's discriminator is the SDK's own, not pydantic's).
EVENTS: dict[str, type[pydantic.BaseModel]] = {
    model.model_fields["type"].annotation.__args__[0]: model
    for model in get_args(get_args(ResponseStreamEvent)[0])
}
CALLS = (
    ScriptedCall("get_weather", '{"city":"Paris"}', id="call_w"),
    ScriptedCall("get_weather", '{"city":"Rome"}', id="call_r"),
)


async def stream_events(
    client: Client, auth: dict[str, str], body: dict[str, Any]
) -> list[dict[str, Any]]:
    answer = await client.post("/v1/responses", json={**body, "stream": True}, headers=auth)
    assert answer.status == 200, await answer.text()
    assert answer.content_type == "text/event-stream"
    events = []
    for name, data in sse_events(await answer.text()):
        event = json.loads(data)
        assert name == event["type"]
        EVENTS[event["type"]].model_validate(event)
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


@pytest.mark.parametrize("agent", AGENTS)
async def test_text_event_sequence(
    client: Client, auth: dict[str, str], fake: FakeServer, agent: str
) -> None:
    events = await stream_events(client, auth, {"model": agent, "input": "hi"})
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress"
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello, world!"
    assert final["usage"]["total_tokens"] == 15
    assert events[-3]["part"]["text"] == "Hello, world!"


@pytest.mark.parametrize("agent", AGENTS)
async def test_function_call_events(
    client: Client, auth: dict[str, str], fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(Behavior(chunks=(), tool_calls=CALLS))
    events = await stream_events(client, auth, {"model": agent, "input": "hi", "tools": TOOLS})
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds.count("response.function_call_arguments.done") == 2
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-1] == "response.completed"
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [json.loads(e["arguments"]) for e in done] == [{"city": "Paris"}, {"city": "Rome"}]
    output = events[-1]["response"]["output"]
    assert [(i["call_id"], i["name"]) for i in output] == [
        ("call_w", "get_weather"),
        ("call_r", "get_weather"),
    ]
    assert [e["output_index"] for e in done] == [0, 1]


@pytest.mark.parametrize("agent", AGENTS)
async def test_sdk_stream_helper_builds_the_final_response(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    async with sdk.responses.stream(model=agent, input="hi") as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == "Hello, world!"
    assert final.output_text == "Hello, world!"
    assert final.status == "completed"


@pytest.mark.parametrize("agent", AGENTS)
async def test_sdk_stream_of_function_calls(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(Behavior(chunks=(), tool_calls=CALLS[:1]))
    stream = await sdk.responses.create(model=agent, input="hi", tools=TOOLS, stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    [call] = events[-1].response.output
    assert call.type == "function_call"
    assert json.loads(call.arguments) == {"city": "Paris"}


@pytest.mark.parametrize("agent", AGENTS)
async def test_token_limit_ends_incomplete(
    client: Client, auth: dict[str, str], fake: FakeServer, agent: str
) -> None:
    finish = "max_tokens" if agent.endswith("claude") else "length"
    upstream(fake, agent).script(Behavior(finish=finish))
    events = await stream_events(client, auth, {"model": agent, "input": "hi"})
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_upstream_failure_mid_stream_is_response_failed(
    client: Client, auth: dict[str, str], fake: FakeServer
) -> None:
    fake.openai.script(Behavior(drop_after=2))
    events = await stream_events(client, auth, {"model": "coding", "input": "hi"})
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"]


async def test_upstream_failure_before_output_is_a_json_error(
    client: Client, auth: dict[str, str], fake: FakeServer
) -> None:
    fake.anthropic.script(Behavior(status=400, message="prompt is too long"))
    answer = await client.post(
        "/v1/responses",
        json={"model": "coding-claude", "input": "hi", "stream": True},
        headers=auth,
    )
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == "provider_invalid_request"


@pytest.fixture
async def production_server(fake: FakeServer) -> AsyncIterator[str]:
    """Our app behind a plain AppRunner, as ``app.lifecycle.serve`` runs it: aiohttp's handler
    cancellation is off, so only the front door's own disconnect watch can cancel."""
    runner = web.AppRunner(create_app(agent_config(fake)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("stream", [True, False])
async def test_client_disconnect_stops_the_upstream_within_a_second(
    production_server: str, fake: FakeServer, agent: str, stream: bool
) -> None:
    target = upstream(fake, agent)
    if stream:
        target.default = Behavior(chunks=("tok",) * 100, chunk_delay=0.2)
    else:
        target.default = Behavior(header_delay=20)
    body = {"model": agent, "input": "hi", "stream": stream}

    async def client_side() -> float:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                production_server + "/v1/responses", json=body, headers=bearer(make_token())
            )
            if stream:
                await response.content.readuntil(b"response.output_text.delta")
            response.close()
        return time.monotonic()

    if stream:
        left_at = await client_side()
    else:
        task = asyncio.create_task(client_side())
        await asyncio.sleep(0.3)
        task.cancel()
        left_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
    disconnect = await target.wait_disconnect(within=1.0)
    assert disconnect.at - left_at < 1.0
    assert target.attempts == 1
    if stream:
        assert disconnect.chunks_sent < 100
