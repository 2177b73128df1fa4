"""OpenAI-compatible function calling and response_format on /v1/chat/completions, with the
official OpenAI SDK as the client, over an OpenAI agent and an Anthropic agent.

The fakes answer with tool calls in each provider's own wire format and refuse any upstream
request the real API would refuse (tool pairing, schemas, names: tests/fakes/_rules.py), so a
round trip passing here was translated both ways into bodies each provider accepts.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.app.conftest import Client
from tests.fakes import Behavior, FakeServer, FakeUpstream, ScriptedCall
from tests.sse import sse_events

AGENTS = ["coding", "coding-claude"]
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
    },
]
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather and time in Paris?"}]
CALLS = (
    ScriptedCall("get_weather", '{"city":"Paris"}', id="call_w"),
    ScriptedCall("get_time", '{"zone":"Europe/Paris"}', id="call_t"),
)
EXPECTED = [
    ("call_w", "get_weather", {"city": "Paris"}),
    ("call_t", "get_time", {"zone": "Europe/Paris"}),
]


def upstream(fake: FakeServer, agent: str) -> FakeUpstream:
    return fake.anthropic if agent.endswith("claude") else fake.openai


def script_calls_then_answer(fake: FakeServer, agent: str) -> None:
    upstream(fake, agent).script(
        Behavior(chunks=(), tool_calls=CALLS), Behavior(chunks=("Sunny", ", 14:00."))
    )


def results_for(calls: list[Any]) -> list[ChatCompletionMessageParam]:
    """The assistant message with the calls (as the SDK returned them) and one tool message
    per call, as an agent framework sends them back."""
    assistant: Any = {
        "role": "assistant",
        "content": None,
        "tool_calls": [call.model_dump(exclude_none=True) for call in calls],
    }
    results: list[ChatCompletionMessageParam] = [
        {"role": "tool", "tool_call_id": call.id, "content": f"result of {call.function.name}"}
        for call in calls
    ]
    return [assistant, *results]


def assert_upstream_round_trip(fake: FakeServer, agent: str) -> None:
    """The second upstream request carries the calls and their results in the provider's own
    format, ids and order kept."""
    body = upstream(fake, agent).requests[-1]
    if agent.endswith("claude"):
        assert [tool["name"] for tool in body["tools"]] == ["get_weather", "get_time"]
        assert body["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
        assistant, results = body["messages"][-2:]
        assert assistant == {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in EXPECTED
            ],
        }
        assert results == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": i, "content": f"result of {n}"}
                for i, n, _ in EXPECTED
            ],
        }
    else:
        assert body["tools"] == TOOLS
        assistant, *results = body["messages"][-3:]
        assert [(c["id"], c["function"]["name"]) for c in assistant["tool_calls"]] == [
            (i, n) for i, n, _ in EXPECTED
        ]
        assert assistant["content"] is None
        assert [(r["role"], r["tool_call_id"]) for r in results] == [
            ("tool", "call_w"),
            ("tool", "call_t"),
        ]


@pytest.mark.parametrize("agent", AGENTS)
async def test_tool_calls_and_round_trip(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    script_calls_then_answer(fake, agent)
    completion = await sdk.chat.completions.create(model=agent, messages=ASK, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        (i, "function", n, a) for i, n, a in EXPECTED
    ]

    final = await sdk.chat.completions.create(
        model=agent, messages=[*ASK, *results_for(calls)], tools=TOOLS
    )
    assert final.choices[0].message.content == "Sunny, 14:00."
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].finish_reason == "stop"
    assert_upstream_round_trip(fake, agent)


@pytest.mark.parametrize("agent", AGENTS)
async def test_streamed_tool_calls_and_round_trip(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    script_calls_then_answer(fake, agent)
    # The SDK's stream helper accumulates the tool-call deltas into a ChatCompletion.
    async with sdk.chat.completions.stream(model=agent, messages=ASK, tools=TOOLS) as stream:
        async for _ in stream:
            pass
        completion = await stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        (i, "function", n, a) for i, n, a in EXPECTED
    ]

    answer = await sdk.chat.completions.create(
        model=agent, messages=[*ASK, *results_for(calls)], tools=TOOLS, stream=True
    )
    chunks = [chunk async for chunk in answer]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sunny, 14:00."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert_upstream_round_trip(fake, agent)


@pytest.mark.parametrize("agent", AGENTS)
async def test_streamed_tool_call_deltas_have_openais_shape(
    client: Client, auth: dict[str, str], fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(Behavior(chunks=(), tool_calls=CALLS))
    response = await client.post(
        "/v1/chat/completions",
        json={"model": agent, "messages": ASK, "tools": TOOLS, "stream": True},
        headers=auth,
    )
    assert response.status == 200
    events = sse_events(await response.text())
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    parsed = [openai.types.chat.ChatCompletionChunk.model_validate(c) for c in chunks]
    deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls") or ()]
    for index, (call_id, name, arguments) in enumerate(EXPECTED):
        mine = [d for d in deltas if d["index"] == index]
        assert mine[0] == {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        assert all(set(d) == {"index", "function"} for d in mine[1:])
        assert all(set(d["function"]) == {"arguments"} for d in mine[1:])
        assert len(mine) > 2  # the arguments arrive in fragments
        assert json.loads("".join(d["function"]["arguments"] for d in mine)) == arguments
    assert parsed[-1].choices[0].finish_reason == "tool_calls"


async def test_text_before_tool_calls_is_kept(sdk: openai.AsyncOpenAI, fake: FakeServer) -> None:
    fake.anthropic.script(Behavior(chunks=("Checking.",), tool_calls=CALLS[:1]))
    completion = await sdk.chat.completions.create(model="coding-claude", messages=ASK, tools=TOOLS)
    message = completion.choices[0].message
    assert message.content == "Checking."
    assert [c.function.name for c in message.tool_calls or []] == ["get_weather"]  # type: ignore[union-attr]


async def test_anthropic_call_without_input_streams_empty_object(
    sdk: openai.AsyncOpenAI, fake: FakeServer
) -> None:
    fake.anthropic.script(Behavior(chunks=(), tool_calls=(ScriptedCall("get_time", "{}"),)))
    async with sdk.chat.completions.stream(
        model="coding-claude", messages=ASK, tools=TOOLS
    ) as stream:
        completion = await stream.get_final_completion()
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_time", "{}")]  # type: ignore[union-attr]


CHOICES: list[tuple[Any, bool | None, dict[str, Any] | None, dict[str, Any] | None]] = [
    # (tool_choice, parallel_tool_calls, OpenAI's fields, Anthropic's tool_choice)
    ("auto", None, {"tool_choice": "auto"}, {"type": "auto"}),
    ("none", None, {"tool_choice": "none"}, {"type": "none"}),
    (
        "required",
        False,
        {"tool_choice": "required", "parallel_tool_calls": False},
        {"type": "any", "disable_parallel_tool_use": True},
    ),
    (
        {"type": "function", "function": {"name": "get_time"}},
        None,
        {"tool_choice": {"type": "function", "function": {"name": "get_time"}}},
        {"type": "tool", "name": "get_time"},
    ),
    (
        None,
        False,
        {"parallel_tool_calls": False},
        {"type": "auto", "disable_parallel_tool_use": True},
    ),
    (None, True, {"parallel_tool_calls": True}, None),
]


@pytest.mark.parametrize(("choice", "parallel", "openai_fields", "anthropic_choice"), CHOICES)
async def test_tool_choice_and_parallel_calls_reach_each_provider(
    client: Client,
    auth: dict[str, str],
    fake: FakeServer,
    choice: Any,
    parallel: bool | None,
    openai_fields: dict[str, Any],
    anthropic_choice: dict[str, Any] | None,
) -> None:
    extra: dict[str, Any] = {"tools": TOOLS}
    if choice is not None:
        extra["tool_choice"] = choice
    if parallel is not None:
        extra["parallel_tool_calls"] = parallel
    for agent in AGENTS:
        response = await client.post(
            "/v1/chat/completions", json={"model": agent, "messages": ASK, **extra}, headers=auth
        )
        assert response.status == 200, await response.text()
    sent = fake.openai.requests[-1]
    assert {k: sent[k] for k in ("tool_choice", "parallel_tool_calls") if k in sent} == (
        openai_fields
    )
    assert fake.anthropic.requests[-1].get("tool_choice") == anthropic_choice


async def test_anthropic_history_with_tool_calls_but_no_tools(
    sdk: openai.AsyncOpenAI, fake: FakeServer
) -> None:
    # OpenAI needs no tools to read a past call; Anthropic does: they are declared, unusable.
    history: Any = [
        *ASK,
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    completion = await sdk.chat.completions.create(model="coding-claude", messages=history)
    assert completion.choices[0].message.content == "Hello, world!"
    sent = fake.anthropic.requests[-1]
    assert sent["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert sent["tool_choice"] == {"type": "none"}


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


@pytest.mark.parametrize("agent", AGENTS)
async def test_json_schema_response_format_parses_in_the_sdk(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(Behavior(chunks=('{"city": "Paris",', ' "celsius": 14}')))
    # The SDK sends a strict json_schema format built from the model and parses the answer.
    completion = await sdk.chat.completions.parse(
        model=agent, messages=ASK, response_format=Weather
    )
    assert completion.choices[0].message.parsed == Weather(city="Paris", celsius=14)
    sent = upstream(fake, agent).requests[-1]
    schema = Weather.model_json_schema()
    if agent.endswith("claude"):
        # Structured outputs: the SDK's schema transform, objects closed (the fake checks it).
        fmt = sent["output_config"]["format"]
        assert fmt["type"] == "json_schema"
        assert fmt["schema"]["additionalProperties"] is False
        assert set(fmt["schema"]["properties"]) == {"city", "celsius"}
    else:
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["name"] == "Weather"
        assert sent["response_format"]["json_schema"]["strict"] is True
        assert (
            sent["response_format"]["json_schema"]["schema"]["properties"] == (schema["properties"])
        )


@pytest.mark.parametrize("agent", AGENTS)
async def test_json_object_response_format(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(Behavior(chunks=('{"ok":', " true}")))
    messages: Any = [{"role": "user", "content": "Answer in JSON: ok?"}]
    completion = await sdk.chat.completions.create(
        model=agent, messages=messages, response_format={"type": "json_object"}
    )
    assert json.loads(completion.choices[0].message.content or "") == {"ok": True}
    sent = upstream(fake, agent).requests[-1]
    if agent.endswith("claude"):
        assert "output_config" not in sent
        assert sent["system"].endswith(
            "Answer with a single valid JSON object and nothing else: no prose and no code fences."
        )
    else:
        assert sent["response_format"] == {"type": "json_object"}


async def test_json_object_without_json_in_messages_is_openais_400(
    sdk: openai.AsyncOpenAI,
) -> None:
    # OpenAI refuses json mode unless the messages mention JSON; the agent passes that on.
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(
            model="coding", messages=ASK, response_format={"type": "json_object"}
        )
    assert "must contain the word 'json'" in str(caught.value.body)


BAD: list[Any] = [
    pytest.param(
        {"messages": [*ASK, {"role": "tool", "tool_call_id": "x", "content": "r"}]},
        "messages[1].tool_call_id",
        "must be the id of an unanswered tool call of the assistant message directly before"
        " the tool messages",
        id="tool message without a call",
    ),
    pytest.param(
        {
            "messages": [
                *ASK,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "user", "content": "?"},
            ]
        },
        "messages[1].tool_calls",
        "tool call 'c1' has no tool message answering it (tool messages must directly follow"
        " the assistant message with tool_calls)",
        id="unanswered tool call",
    ),
    pytest.param(
        {"messages": [{"role": "tool", "content": "r"}]},
        "messages[0].tool_call_id",
        "is required for a tool message",
        id="tool message without tool_call_id",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": "x", "tool_calls": []}]},
        "messages[0].tool_calls",
        "only assistant messages have tool_calls",
        id="tool_calls on a user message",
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "get weather"}}]},
        "tools[0].function.name",
        "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        id="tool name with a space",
    ),
    pytest.param(
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}
            ]
        },
        "tools[0].function.parameters",
        'must be a JSON Schema of "type": "object"',
        id="parameters not an object schema",
    ),
    pytest.param(
        {"tools": [{"type": "function"}]},
        "tools[0].function",
        "is required",
        id="tool without function",
    ),
    pytest.param(
        {"tools": [{"type": "custom", "custom": {"name": "f"}}]},
        "tools[0].type",
        "Input should be 'function'",
        id="custom tool",
    ),
    pytest.param(
        {"tools": [TOOLS[0], TOOLS[0]]},
        "tools[1].function.name",
        "duplicate tool name",
        id="duplicate tool names",
    ),
    pytest.param(
        {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "tool_choice.function.name",
        "names no tool in tools",
        id="tool_choice names an unknown tool",
    ),
    pytest.param(
        {"tool_choice": "required"}, "tool_choice", "requires tools", id="required without tools"
    ),
    pytest.param(
        {"tools": TOOLS, "tool_choice": "sometimes"},
        "tool_choice",
        "Input should be 'none', 'auto' or 'required'",
        id="unknown tool_choice",
    ),
    pytest.param(
        {"response_format": {"type": "yaml"}},
        "response_format",
        "must be an object with type text, json_object or json_schema",
        id="unknown response_format",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
        "response_format.json_schema.name",
        "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        id="json_schema name with a space",
    ),
    pytest.param(
        {"parallel_tool_calls": "yes"},
        "parallel_tool_calls",
        "Input should be a valid boolean",
        id="parallel_tool_calls a string",
    ),
]


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize(("change", "param", "problem"), BAD)
async def test_bad_tool_requests_are_400s(
    sdk: openai.AsyncOpenAI,
    fake: FakeServer,
    agent: str,
    change: dict[str, Any],
    param: str,
    problem: str,
) -> None:
    body = {"messages": ASK, **change}
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(
            model=agent, messages=body.pop("messages"), extra_body=body
        )
    assert caught.value.body == {
        "message": f"{param}: {problem}",
        "type": "invalid_request_error",
        "code": "invalid_field",
        "param": param,
    }
    assert fake.openai.attempts == fake.anthropic.attempts == 0


async def test_anthropic_agent_refuses_arguments_that_are_not_an_object(
    sdk: openai.AsyncOpenAI, fake: FakeServer
) -> None:
    history: Any = [
        *ASK,
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="coding-claude", messages=history, tools=TOOLS)
    assert "tool call 'c1': arguments must be a JSON object" in str(caught.value.body)
    assert fake.anthropic.attempts == 0


@pytest.mark.parametrize(
    "extra",
    [
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "strict": True,
                        "parameters": {"type": "object", "properties": {"a": {"type": "foo"}}},
                    },
                }
            ]
        },
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object", "properties": 5}},
            }
        },
    ],
    ids=["strict tool", "json_schema"],
)
async def test_anthropic_agent_refuses_schemas_it_cannot_convert(
    client: Client, auth: dict[str, str], fake: FakeServer, extra: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding-claude", "messages": ASK, **extra},
        headers=auth,
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "provider_invalid_request"
    assert "cannot be converted to Anthropic's structured-output subset" in error["message"]
    assert fake.anthropic.attempts == 0


async def test_anthropic_gets_ids_it_accepts(sdk: openai.AsyncOpenAI, fake: FakeServer) -> None:
    # Ids from other providers or clients may hold characters Anthropic refuses in tool_use ids.
    history: Any = [
        *ASK,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "fn:1",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "fn:1", "content": "noon"},
    ]
    completion = await sdk.chat.completions.create(
        model="coding-claude", messages=history, tools=TOOLS
    )
    assert completion.choices[0].message.content == "Hello, world!"
    assistant, results = fake.anthropic.requests[-1]["messages"][-2:]
    sent_id = assistant["content"][0]["id"]
    assert sent_id.startswith("toolu_")
    assert results["content"][0]["tool_use_id"] == sent_id


class GetWeather(pydantic.BaseModel):
    city: str


@pytest.mark.parametrize("agent", AGENTS)
async def test_sdk_parses_strict_pydantic_tool_calls(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    # The SDK's strict function tools: it checks the answer's calls against the model.
    upstream(fake, agent).script(
        Behavior(chunks=(), tool_calls=(ScriptedCall("GetWeather", '{"city":"Paris"}'),))
    )
    completion = await sdk.chat.completions.parse(
        model=agent, messages=ASK, tools=[openai.pydantic_function_tool(GetWeather)]
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [call.function.parsed_arguments for call in calls] == [GetWeather(city="Paris")]
    if agent.endswith("claude"):
        tool = fake.anthropic.requests[-1]["tools"][0]
        assert tool["strict"] is True
        assert tool["input_schema"]["additionalProperties"] is False
