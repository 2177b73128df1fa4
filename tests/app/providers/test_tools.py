"""The provider tool layer, as an agent loop uses it: both adapters over the real SDKs against
the strict fakes, which refuse any tool request the real API would refuse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.providers import (
    AnthropicProvider,
    ChatMessage,
    ChatParams,
    ChatProvider,
    JSONSchemaFormat,
    NamedToolChoice,
    OpenAIProvider,
    ProviderError,
    StreamEnd,
    Tool,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
)
from tests.fakes import Behavior, FakeServer, FakeUpstream, ScriptedCall
from tests.fakes.appconfig import ANTHROPIC_KEY, OPENAI_KEY

ADD = Tool(
    "add",
    "Add two integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
NOW = Tool("now")
PARAMS = ChatParams(max_tokens=64, tools=(ADD, NOW))
ASK = [ChatMessage("user", "What is 2+3, and what time is it?")]
SCRIPTED = (ScriptedCall("add", '{"a":2,"b":3}', id="call_1"), ScriptedCall("now", id="call_2"))
CALLS = (ToolCall("call_1", "add", '{"a":2,"b":3}'), ToolCall("call_2", "now", "{}"))


@pytest.fixture(params=["openai", "anthropic"])
async def provider(request: Any, fake: FakeServer) -> AsyncIterator[ChatProvider]:
    kind = OpenAIProvider if request.param == "openai" else AnthropicProvider
    url = fake.openai_url if request.param == "openai" else fake.anthropic_url
    key = OPENAI_KEY if request.param == "openai" else ANTHROPIC_KEY
    client = kind(api_key=key, api_base=url, max_retries=0, timeout=5)
    yield client
    await client.aclose()


def upstream(fake: FakeServer, provider: ChatProvider) -> FakeUpstream:
    return fake.openai if provider.name == "openai" else fake.anthropic


def round_trip(calls: tuple[ToolCall, ...]) -> list[ChatMessage]:
    return [
        *ASK,
        ChatMessage("assistant", "", tool_calls=calls),
        *(ChatMessage("tool", f"result {call.name}", tool_call_id=call.id) for call in calls),
    ]


async def test_complete_with_tools_then_results(provider: ChatProvider, fake: FakeServer) -> None:
    upstream(fake, provider).script(
        Behavior(chunks=(), tool_calls=SCRIPTED), Behavior(chunks=("5; noon.",))
    )
    completion = await provider.complete("m", "System.", ASK, PARAMS)
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""
    assert [(c.id, c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("call_1", "add", {"a": 2, "b": 3}),
        ("call_2", "now", {}),
    ]
    final = await provider.complete("m", "System.", round_trip(completion.tool_calls), PARAMS)
    assert (final.text, final.finish_reason, final.tool_calls) == ("5; noon.", "stop", ())


async def test_stream_with_tools_then_results(provider: ChatProvider, fake: FakeServer) -> None:
    upstream(fake, provider).script(
        Behavior(chunks=(), tool_calls=SCRIPTED), Behavior(chunks=("5; ", "noon."))
    )
    deltas: list[ToolCallDelta] = []
    end = None
    async for item in provider.stream("m", "System.", ASK, PARAMS):
        if isinstance(item, ToolCallDelta):
            deltas.append(item)
        elif isinstance(item, StreamEnd):
            end = item
    assert end is not None
    assert end.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in end.tool_calls] == [
        ("call_1", "add", {"a": 2, "b": 3}),
        ("call_2", "now", {}),
    ]
    # OpenAI's delta shape: the first of a call names it, the rest carry argument fragments.
    assert [(d.index, d.id, d.name) for d in deltas if d.id] == [
        (0, "call_1", "add"),
        (1, "call_2", "now"),
    ]
    assert all(d.name is None for d in deltas if d.id is None)
    assembler = ToolCallAssembler()
    for delta in deltas:
        assembler.add(delta)
    assert assembler.calls() == end.tool_calls

    text = []
    async for item in provider.stream("m", "System.", round_trip(end.tool_calls), PARAMS):
        if isinstance(item, str):
            text.append(item)
    assert "".join(text) == "5; noon."


async def test_anthropic_wire_format(fake: FakeServer) -> None:
    provider = AnthropicProvider(
        api_key=ANTHROPIC_KEY, api_base=fake.anthropic_url, max_retries=0, timeout=5
    )
    params = ChatParams(
        max_tokens=64,
        tools=(ADD, Tool("strict_add", None, ADD.parameters, strict=True)),
        tool_choice=NamedToolChoice("add"),
        parallel_tool_calls=False,
        response_format=JSONSchemaFormat("sum", {"type": "object", "properties": {}}),
    )
    messages = [*round_trip(CALLS), ChatMessage("user", "And now?")]
    await provider.complete("m", "", messages, params)
    await provider.aclose()
    body = fake.anthropic.requests[-1]
    assert body["tools"][0] == {
        "name": "add",
        "description": "Add two integers.",
        "input_schema": ADD.parameters,
    }
    assert body["tools"][1]["strict"] is True
    assert body["tools"][1]["input_schema"]["additionalProperties"] is False
    assert body["tool_choice"] == {"type": "tool", "name": "add", "disable_parallel_tool_use": True}
    assert body["output_config"] == {
        "format": {
            "type": "json_schema",
            "schema": {"type": "object", "properties": {}, "additionalProperties": False},
        }
    }
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "add", "input": {"a": 2, "b": 3}},
                {"type": "tool_use", "id": "call_2", "name": "now", "input": {}},
            ],
        },
        {
            # One user turn: the results first, in order, then the user's text.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "result add"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "result now"},
                {"type": "text", "text": "And now?"},
            ],
        },
    ]


async def test_openai_wire_format(fake: FakeServer) -> None:
    provider = OpenAIProvider(
        api_key=OPENAI_KEY, api_base=fake.openai_url, max_retries=0, timeout=5
    )
    params = ChatParams(
        max_tokens=64,
        tools=(ADD,),
        tool_choice="required",
        parallel_tool_calls=False,
        response_format=JSONSchemaFormat("sum", {"type": "object"}, "A sum.", strict=True),
    )
    await provider.complete("m", "", round_trip(CALLS), params)
    await provider.aclose()
    body = fake.openai.requests[-1]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two integers.",
                "parameters": ADD.parameters,
            },
        }
    ]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "sum",
            "description": "A sum.",
            "schema": {"type": "object"},
            "strict": True,
        },
    }
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a":2,"b":3}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "now", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "result add"},
        {"role": "tool", "tool_call_id": "call_2", "content": "result now"},
    ]


async def test_unanswered_call_is_refused_by_each_provider(
    provider: ChatProvider, fake: FakeServer
) -> None:
    # The layer translates, it does not repair: a loop that forgets a result gets a 400.
    messages = [*ASK, ChatMessage("assistant", "", tool_calls=CALLS[:1])]
    with pytest.raises(ProviderError) as caught:
        await provider.complete("m", "", messages, PARAMS)
    assert caught.value.status == 400
    assert upstream(fake, provider).rejected
