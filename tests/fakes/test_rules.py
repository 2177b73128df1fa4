"""The fakes refuse each documented bad request shape with the real API's status and error body.

Bodies go over HTTP to the running fake; the accepted ones are what the official SDKs send.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.fakes import FakeServer
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
