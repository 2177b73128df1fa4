"""Stored responses: ``store`` (default true), ``previous_response_id``, GET and DELETE, visible
only to the subject that created them; the in-process store's TTL and bound."""

from __future__ import annotations

import json

import openai
import pytest

from app.providers import ChatMessage, ToolCall
from app.responses_api._store import MemoryResponseStore, StoredResponse
from tests.app.conftest import Client, bearer, make_token
from tests.fakes import Behavior, FakeServer, ScriptedCall

from .test_create import AGENTS, TOOLS, upstream


@pytest.mark.parametrize("agent", AGENTS)
async def test_previous_response_continues_the_conversation(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    target = upstream(fake, agent)
    target.script(Behavior(chunks=("Paris.",)), Behavior(chunks=("2.1 million.",)))
    first = await sdk.responses.create(
        model=agent, input="Capital of France?", instructions="Answer in one line."
    )
    second = await sdk.responses.create(
        model=agent, input="Its population?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert second.output_text == "2.1 million."
    sent = json.dumps(target.requests[-1])
    for turn in ("Capital of France?", "Paris.", "Its population?"):
        assert turn in sent
    # OpenAI does not carry instructions over to the next response.
    assert "Answer in one line." not in sent


@pytest.mark.parametrize("agent", AGENTS)
async def test_function_call_output_continues_from_a_stored_call(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    call = ScriptedCall("get_weather", '{"city":"Paris"}', id="call_w")
    upstream(fake, agent).script(
        Behavior(chunks=(), tool_calls=(call,)), Behavior(chunks=("Sunny.",))
    )
    first = await sdk.responses.create(model=agent, input="Weather?", tools=TOOLS)
    second = await sdk.responses.create(
        model=agent,
        tools=TOOLS,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_w", "output": "18C"}],
    )
    assert second.output_text == "Sunny."


async def test_get_and_delete(sdk: openai.AsyncOpenAI) -> None:
    created = await sdk.responses.create(model="coding", input="hi", metadata={"k": "v"})
    fetched = await sdk.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    await sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.delete(created.id)


async def test_store_false_keeps_nothing(sdk: openai.AsyncOpenAI) -> None:
    created = await sdk.responses.create(model="coding", input="hi", store=False)
    # The API's `store` field, which the SDK keeps as an extra.
    assert (created.model_extra or {})["store"] is False
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.responses.create(model="coding", input="more", previous_response_id=created.id)
    assert refused.value.param == "previous_response_id"


async def test_stored_streamed_response(sdk: openai.AsyncOpenAI, fake: FakeServer) -> None:
    async with sdk.responses.stream(model="coding-claude", input="hi") as stream:
        final = await stream.get_final_response()
    fetched = await sdk.responses.retrieve(final.id)
    assert fetched.output_text == "Hello, world!"
    fake.anthropic.script(Behavior(chunks=("Again.",)))
    again = await sdk.responses.create(
        model="coding-claude", input="again", previous_response_id=final.id
    )
    assert again.output_text == "Again."
    assert "Hello, world!" in json.dumps(fake.anthropic.requests[-1])


async def test_another_subjects_response_is_not_found(
    client: Client, sdk: openai.AsyncOpenAI
) -> None:
    created = await sdk.responses.create(model="coding", input="hi")
    mallory = bearer(make_token("mallory"))
    for method in ("GET", "DELETE"):
        answer = await client.request(method, f"/v1/responses/{created.id}", headers=mallory)
        assert answer.status == 404
        assert (await answer.json())["error"]["code"] == "response_not_found"
    answer = await client.post(
        "/v1/responses",
        json={"model": "coding", "input": "hi", "previous_response_id": created.id},
        headers=mallory,
    )
    assert answer.status == 400
    assert (await answer.json())["error"]["param"] == "previous_response_id"
    # Still there for its owner.
    assert (await sdk.responses.retrieve(created.id)).id == created.id


def record(response_id: str) -> StoredResponse:
    conversation = [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "", (ToolCall("c1", "f", "{}"),)),
        ChatMessage("tool", "1", tool_call_id="c1"),
    ]
    return StoredResponse({"id": response_id}, conversation)


async def test_memory_store_expires_and_is_bounded() -> None:
    now = [0.0]
    store = MemoryResponseStore(ttl=10, max_entries=2, clock=lambda: now[0])
    for name in ("a", "b", "c"):
        await store.save("alice", record(name))
    assert await store.load("alice", "a") is None  # the oldest went first
    loaded = await store.load("alice", "b")
    assert loaded == record("b")
    assert await store.load("bob", "b") is None
    now[0] = 10.0
    assert await store.load("alice", "c") is None


async def test_memory_store_is_bounded_in_bytes() -> None:
    size = len(record("a").encode())
    store = MemoryResponseStore(max_bytes=2 * size + 1)
    for name in ("a", "b", "c"):
        await store.save("alice", record(name))
    assert await store.load("alice", "a") is None
    assert await store.load("alice", "c") == record("c")
    assert await store.delete("alice", "b")
    assert not await store.delete("alice", "b")
