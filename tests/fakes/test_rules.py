"""The fakes refuse each documented bad request shape with the real API's status and error body.

Bodies go over HTTP to the running fake; the accepted ones are what the official SDKs send.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.fakes import Behavior, FakeServer, ScriptedCall
from tests.fakes._rules import BOTH_SAMPLING, NON_EMPTY

OPENAI_OK: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_OK: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
CURRENT = {"anthropic-version": "2026-10-21"}
LEGACY = {"anthropic-version": "2023-06-01"}


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers or {}) as response,
    ):
        return response.status, await response.json()


def openai_error(message: str, param: str | None = None, code: str | None = None) -> Any:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


OPENAI_CASES = [
    pytest.param(
        {"tools_x": 1},
        openai_error("Unrecognized request argument supplied: tools_x"),
        id="unknown argument",
    ),
    pytest.param(
        {"top_k": 5, "foo": 1},
        openai_error("Unrecognized request arguments supplied: foo, top_k"),
        id="unknown arguments",
    ),
    pytest.param(
        {"temperature": 2.5},
        openai_error(
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2,"
            " but got 2.5 instead.",
            "temperature",
            "decimal_above_max_value",
        ),
        id="temperature above 2",
    ),
    pytest.param(
        {"top_p": -0.1},
        openai_error(
            "Invalid 'top_p': decimal below minimum value. Expected a value >= 0,"
            " but got -0.1 instead.",
            "top_p",
            "decimal_below_min_value",
        ),
        id="top_p below 0",
    ),
    pytest.param(
        {"stop": ["a", "b", "c", "d", "e"]},
        openai_error(
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got"
            " an array with length 5 instead.",
            "stop",
            "array_above_max_length",
        ),
        id="five stop sequences",
    ),
    pytest.param(
        {"messages": []},
        openai_error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got"
            " an empty array instead.",
            "messages",
            "empty_array",
        ),
        id="no messages",
    ),
    pytest.param(
        {"stream_options": {"include_usage": True}},
        openai_error(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        ),
        id="stream_options without stream",
    ),
    pytest.param(
        {"max_completion_tokens": "64"},
        openai_error(
            "Invalid type for 'max_completion_tokens': Input should be a valid integer.",
            "max_completion_tokens",
            "invalid_type",
        ),
        id="max_completion_tokens a string",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": 5}]},
        openai_error(
            "Invalid type for 'messages[0].content': Input should be a valid string.",
            "messages[0].content",
            "invalid_type",
        ),
        id="content a number",
    ),
]


@pytest.mark.parametrize(("change", "expected"), OPENAI_CASES)
async def test_openai_refuses(fake: FakeServer, change: dict[str, Any], expected: Any) -> None:
    status, body = await post(f"{fake.openai_url}/chat/completions", {**OPENAI_OK, **change})
    assert (status, body) == (400, expected)
    assert fake.openai.requests == type(fake.openai.requests)()
    assert len(fake.openai.rejected) == 1


async def test_openai_missing_model(fake: FakeServer) -> None:
    status, body = await post(f"{fake.openai_url}/chat/completions", {"messages": []})
    assert (status, body) == (
        400,
        openai_error("Missing required parameter: 'model'.", "model", "missing_required_parameter"),
    )


def anthropic_message(message: str) -> Any:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


ANTHROPIC_CASES = [
    pytest.param(
        CURRENT,
        {"temperature": 0.2},
        "temperature: Extra inputs are not permitted",
        id="temperature on 2026-10-21",
    ),
    pytest.param(
        CURRENT, {"top_p": 0.9}, "top_p: Extra inputs are not permitted", id="top_p on 2026-10-21"
    ),
    pytest.param(LEGACY, {"temperature": 0.2, "top_p": 0.9}, BOTH_SAMPLING, id="both sampling"),
    pytest.param(LEGACY, {"temperature": 1.5}, "temperature: range: 0..1", id="temperature > 1"),
    pytest.param(
        CURRENT,
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]},
        f"messages.0: {NON_EMPTY}",
        id="empty non-final content",
    ),
    pytest.param(
        CURRENT,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
        "messages.0: " + NON_EMPTY,
        id="empty text block",
    ),
    pytest.param(
        CURRENT,
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": " "}],
                }
            ]
        },
        "messages: text content blocks must contain non-whitespace text",
        id="whitespace text block",
    ),
    pytest.param(
        CURRENT,
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Sure "},
            ]
        },
        "messages: final assistant content cannot end with trailing whitespace",
        id="prefill ends with whitespace",
    ),
    pytest.param(
        CURRENT,
        {"metadata": {"user_id": "u" * 257}},
        "metadata.user_id: String should have at most 256 characters",
        id="user_id over 256",
    ),
    pytest.param(
        CURRENT, {"system": ""}, "system: text content blocks must be non-empty", id="empty system"
    ),
    pytest.param(
        CURRENT, {"messages": []}, "messages: at least one message is required", id="no messages"
    ),
    pytest.param(
        CURRENT,
        {"max_tokens": "16"},
        "max_tokens: Input should be a valid integer",
        id="max_tokens string",
    ),
    pytest.param(
        CURRENT,
        {"messages": [{"role": "robot", "content": "x"}]},
        "messages.0.role: Input should be 'user'",
        id="unknown role",
    ),
    pytest.param(
        CURRENT, {"frobnicate": 1}, "frobnicate: Extra inputs are not permitted", id="unknown field"
    ),
    pytest.param({}, {}, "anthropic-version: header is required", id="no version header"),
]


@pytest.mark.parametrize(("headers", "change", "message"), ANTHROPIC_CASES)
async def test_anthropic_refuses(
    fake: FakeServer, headers: dict[str, str], change: dict[str, Any], message: str
) -> None:
    status, body = await post(
        f"{fake.anthropic_url}/v1/messages", {**ANTHROPIC_OK, **change}, headers
    )
    assert status == 400
    assert body["request_id"].startswith("req_")
    del body["request_id"]
    assert body == anthropic_message(message)
    assert not fake.anthropic.requests


@pytest.mark.parametrize(
    ("headers", "change"),
    [
        (LEGACY, {"temperature": 0.2}),
        (LEGACY, {"top_p": 0.5}),
        (
            CURRENT,
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]},
        ),
        (CURRENT, {"metadata": {"user_id": "u" * 256}, "stop_sequences": ["END"], "system": "s"}),
    ],
)
async def test_anthropic_accepts(
    fake: FakeServer, headers: dict[str, str], change: dict[str, Any]
) -> None:
    status, body = await post(
        f"{fake.anthropic_url}/v1/messages", {**ANTHROPIC_OK, **change}, headers
    )
    assert status == 200, body


async def test_the_official_sdks_get_the_same_refusals(fake: FakeServer) -> None:
    oa = openai.AsyncOpenAI(api_key="k", base_url=fake.openai_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as oa_error:
        await oa.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], extra_body={"top_k": 1}
        )
    assert (
        oa_error.value.body
        == openai_error("Unrecognized request argument supplied: top_k")["error"]
    )
    an = anthropic.AsyncAnthropic(api_key="k", base_url=fake.anthropic_url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as an_error:
        await an.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=8,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"temperature": 0.2},
        )
    assert "temperature: Extra inputs are not permitted" in str(an_error.value)
    ok = await an.messages.create(
        model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "x"}]
    )
    assert ok.content[0].type == "text"
    await oa.close()
    await an.close()


# ------------------------------------------------------------------------------------ Tools

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
OPENAI_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ],
}
OPENAI_TOOL_CASES = [
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "get weather"}}]},
        openai_error(
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a string"
            " that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "tools[0].function.name",
            "invalid_value",
        ),
        id="tool name with a space",
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "f" * 65}}]},
        openai_error(
            "Invalid 'tools[0].function.name': string too long. Expected a string with maximum"
            " length 64, but got a string with length 65 instead.",
            "tools[0].function.name",
            "string_above_max_length",
        ),
        id="tool name too long",
    ),
    pytest.param(
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}
            ]
        },
        openai_error(
            "Invalid schema for function 'f': schema must be a JSON Schema of 'type: \"object\"',"
            " got 'type: \"array\"'.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
        id="parameters not an object schema",
    ),
    pytest.param(
        {"tools": []},
        openai_error(
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an"
            " empty array instead.",
            "tools",
            "empty_array",
        ),
        id="empty tools",
    ),
    pytest.param(
        {"tool_choice": "required"},
        openai_error(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are"
            " specified.",
            "tool_choice",
        ),
        id="tool_choice without tools",
    ),
    pytest.param(
        {"parallel_tool_calls": False},
        openai_error(
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when"
            " 'tools' are specified.",
            "parallel_tool_calls",
        ),
        id="parallel_tool_calls without tools",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}},
        openai_error(
            "Invalid value for 'tool_choice': function 'x' not found in 'tools'.", "tool_choice"
        ),
        id="tool_choice names an unknown function",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_1", "content": "x"},
            ]
        },
        openai_error(
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding"
            " message with 'tool_calls'.",
            "messages.[1].role",
        ),
        id="tool message without a call",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                OPENAI_CALL,
                {"role": "tool", "tool_call_id": "call_2", "content": "x"},
            ]
        },
        openai_error(
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding"
            " message with 'tool_calls'.",
            "messages.[2].role",
        ),
        id="tool message answering another id",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                OPENAI_CALL,
                {"role": "user", "content": "?"},
            ]
        },
        openai_error(
            "An assistant message with 'tool_calls' must be followed by tool messages responding"
            " to each 'tool_call_id'. The following tool_call_ids did not have response"
            " messages: call_1",
            "messages.[1].role",
        ),
        id="unanswered tool call",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}},
        openai_error(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of"
            " type 'json_object'.",
            "messages",
        ),
        id="json_object without the word json",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
        openai_error(
            "Invalid 'response_format.json_schema.name': string does not match pattern. Expected"
            " a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "response_format.json_schema.name",
            "invalid_value",
        ),
        id="json_schema name with a space",
    ),
]


@pytest.mark.parametrize(("change", "expected"), OPENAI_TOOL_CASES)
async def test_openai_refuses_bad_tool_requests(
    fake: FakeServer, change: dict[str, Any], expected: Any
) -> None:
    status, body = await post(f"{fake.openai_url}/chat/completions", {**OPENAI_OK, **change})
    assert (status, body) == (400, expected)
    assert not fake.openai.requests


async def test_openai_accepts_a_tool_round_trip(fake: FakeServer) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris, as json?"},
        OPENAI_CALL,
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    change = {
        "messages": messages,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
    }
    status, body = await post(f"{fake.openai_url}/chat/completions", {**OPENAI_OK, **change})
    assert status == 200, body


ANTHROPIC_TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TOOL_USE = {
    "role": "assistant",
    "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    ],
}
TOOL_RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
ASK = {"role": "user", "content": "Weather in Paris?"}

ANTHROPIC_TOOL_CASES = [
    pytest.param(
        {"tools": [{**ANTHROPIC_TOOL, "name": "get weather"}]},
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        id="tool name with a space",
    ),
    pytest.param(
        {"tools": [{**ANTHROPIC_TOOL, "input_schema": {"type": "string"}}]},
        "tools.0.custom.input_schema.type: Input should be 'object'",
        id="input_schema not an object",
    ),
    pytest.param(
        {"tools": [ANTHROPIC_TOOL, ANTHROPIC_TOOL]},
        "tools: Tool names must be unique.",
        id="duplicate tool names",
    ),
    pytest.param(
        {"tool_choice": {"type": "any"}},
        "tool_choice: tool_choice may only be specified while providing tools.",
        id="tool_choice without tools",
    ),
    pytest.param(
        {"tools": [ANTHROPIC_TOOL], "tool_choice": {"type": "tool", "name": "x"}},
        "tool_choice.name: Tool 'x' not found in tools.",
        id="tool_choice names an unknown tool",
    ),
    pytest.param(
        {"messages": [ASK, TOOL_USE, {"role": "user", "content": [TOOL_RESULT]}]},
        "Requests which include `tool_use` or `tool_result` blocks must define tools.",
        id="tool blocks without tools",
    ),
    pytest.param(
        {"tools": [ANTHROPIC_TOOL], "messages": [ASK, TOOL_USE, {"role": "user", "content": "?"}]},
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after:"
        " toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the"
        " next message.",
        id="tool_use without tool_result",
    ),
    pytest.param(
        {
            "tools": [ANTHROPIC_TOOL],
            "messages": [
                ASK,
                TOOL_USE,
                {"role": "user", "content": [{**TOOL_RESULT, "tool_use_id": "toolu_2"}]},
            ],
        },
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_2."
        " Each `tool_result` block must have a corresponding `tool_use` block in the previous"
        " message.",
        id="tool_result for another id",
    ),
    pytest.param(
        {
            "tools": [ANTHROPIC_TOOL],
            "messages": [
                ASK,
                TOOL_USE,
                {"role": "user", "content": [{"type": "text", "text": "here:"}, TOOL_RESULT]},
            ],
        },
        "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message."
        " Messages following `tool_use` blocks must begin with a matching number of"
        " `tool_result` blocks.",
        id="tool_result after text",
    ),
    pytest.param(
        {
            "tools": [ANTHROPIC_TOOL],
            "messages": [
                ASK,
                {"role": "assistant", "content": [{**TOOL_USE["content"][0], "id": "call:1"}]},
                {"role": "user", "content": [{**TOOL_RESULT, "tool_use_id": "call:1"}]},
            ],
        },
        "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
        id="tool_use id with a colon",
    ),
    pytest.param(
        {
            "output_config": {
                "format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}
            }
        },
        "output_config.format.schema: For 'object' type, 'additionalProperties' must be"
        " explicitly set to false",
        id="structured output with an open object",
    ),
    pytest.param(
        {
            "tools": [ANTHROPIC_TOOL],
            "messages": [
                ASK,
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": " "}, *TOOL_USE["content"]],
                },
                {"role": "user", "content": [TOOL_RESULT]},
            ],
        },
        "messages: text content blocks must contain non-whitespace text",
        id="blank text beside a tool_use",
    ),
]


@pytest.mark.parametrize(("change", "message"), ANTHROPIC_TOOL_CASES)
async def test_anthropic_refuses_bad_tool_requests(
    fake: FakeServer, change: dict[str, Any], message: str
) -> None:
    status, body = await post(
        f"{fake.anthropic_url}/v1/messages", {**ANTHROPIC_OK, **change}, CURRENT
    )
    assert status == 400
    del body["request_id"]
    assert body == anthropic_message(message)
    assert not fake.anthropic.requests


async def test_anthropic_accepts_a_tool_round_trip(fake: FakeServer) -> None:
    change = {
        "tools": [ANTHROPIC_TOOL],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [
            ASK,
            TOOL_USE,
            {"role": "user", "content": [TOOL_RESULT, {"type": "text", "text": "and?"}]},
        ],
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {"type": "object", "properties": {}, "additionalProperties": False},
            }
        },
    }
    status, body = await post(
        f"{fake.anthropic_url}/v1/messages", {**ANTHROPIC_OK, **change}, CURRENT
    )
    assert status == 200, body


# The fakes' scripted tool calls, read by the official SDKs (their own response types and
# stream accumulators are the judge of the wire format).

CALLS = (
    ScriptedCall("get_weather", '{"city":"Paris"}'),
    ScriptedCall("get_time", '{"zone":"Europe/Paris"}'),
)


async def test_openai_sdk_reads_scripted_tool_calls(fake: FakeServer) -> None:
    fake.openai.script(Behavior(chunks=(), tool_calls=CALLS), Behavior(chunks=(), tool_calls=CALLS))
    client = openai.AsyncOpenAI(api_key="k", base_url=fake.openai_url, max_retries=0)
    ask: Any = [{"role": "user", "content": "hi"}]
    completion = await client.chat.completions.create(model="gpt-4o", messages=ask)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", '{"city":"Paris"}'),
        ("get_time", '{"zone":"Europe/Paris"}'),
    ]
    async with client.chat.completions.stream(model="gpt-4o", messages=ask) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in streamed] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_time", '{"zone":"Europe/Paris"}'),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    await client.close()


async def test_anthropic_sdk_reads_scripted_tool_calls(fake: FakeServer) -> None:
    fake.anthropic.script(
        Behavior(chunks=("Let me look.",), tool_calls=CALLS),
        Behavior(chunks=("Let me look.",), tool_calls=CALLS),
    )
    client = anthropic.AsyncAnthropic(api_key="k", base_url=fake.anthropic_url, max_retries=0)
    tools: Any = [ANTHROPIC_TOOL, {**ANTHROPIC_TOOL, "name": "get_time"}]
    ask: Any = [ASK]
    message = await client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=ask, tools=tools
    )
    assert message.stop_reason == "tool_use"
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=ask, tools=tools
    ) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    streamed = [block for block in final.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in streamed] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    assert final.stop_reason == "tool_use"
    await client.close()
