"""Bad Responses requests get OpenAI's 400 naming the parameter, before any upstream call."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import response_create_params

from app.responses_api.requests import OPENAI_ONLY_FIELDS, RESPONSES_FIELDS
from tests.app.conftest import Client
from tests.fakes import FakeServer


def test_known_arguments_are_the_sdks() -> None:
    sdk = set(response_create_params.ResponseCreateParamsBase.__annotations__) | {"stream"}
    assert sdk == RESPONSES_FIELDS | OPENAI_ONLY_FIELDS
    assert not RESPONSES_FIELDS & OPENAI_ONLY_FIELDS


async def refused(client: Client, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/v1/responses", json=body, headers=auth)
    assert answer.status == 400, await answer.text()
    error: dict[str, Any] = (await answer.json())["error"]
    assert error["type"] == "invalid_request_error"
    return error


BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    "missing input": ({"model": "coding"}, "input", "missing_required_parameter"),
    "unknown parameter": (
        {"model": "coding", "input": "hi", "colour": "blue"},
        "colour",
        "unknown_parameter",
    ),
    "unsupported parameter": (
        {"model": "coding", "input": "hi", "reasoning": {"effort": "high"}},
        "reasoning",
        "unsupported_parameter",
    ),
    "hosted tool": (
        {"model": "coding", "input": "hi", "tools": [{"type": "web_search"}]},
        "tools[0].type",
        "unsupported_tool",
    ),
    "file search": (
        {
            "model": "coding",
            "input": "hi",
            "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}],
        },
        "tools[0].type",
        "unsupported_tool",
    ),
    "computer use": (
        {"model": "coding", "input": "hi", "tools": [{"type": "computer_use_preview"}]},
        "tools[0].type",
        "unsupported_tool",
    ),
    "hosted tool choice": (
        {"model": "coding", "input": "hi", "tool_choice": {"type": "web_search_preview"}},
        "tool_choice.type",
        "unsupported_tool",
    ),
    "bad input item": (
        {"model": "coding", "input": [{"type": "reasoning", "summary": []}]},
        "input[0]",
        "invalid_field",
    ),
    "bad content part": (
        {
            "model": "coding",
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}],
        },
        "input[0].content[0]",
        "invalid_field",
    ),
    "string temperature": (
        {"model": "coding", "input": "hi", "temperature": "hot"},
        "temperature",
        "invalid_field",
    ),
    "too few output tokens": (
        {"model": "coding", "input": "hi", "max_output_tokens": 5},
        "max_output_tokens",
        "invalid_field",
    ),
    "orphan function output": (
        {
            "model": "coding",
            "input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}],
        },
        "input",
        "invalid_field",
    ),
    "unanswered function call": (
        {
            "model": "coding",
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"role": "user", "content": "and?"},
            ],
        },
        "input",
        "invalid_field",
    ),
    "empty input": ({"model": "coding", "input": []}, "input", "invalid_field"),
    "only instructions": (
        {"model": "coding", "input": [{"role": "developer", "content": "Be brief."}]},
        "input",
        "invalid_field",
    ),
    "tool choice without tools": (
        {"model": "coding", "input": "hi", "tool_choice": "required"},
        "tool_choice",
        "invalid_field",
    ),
    "bad previous response": (
        {"model": "coding", "input": "hi", "previous_response_id": "resp_nope"},
        "previous_response_id",
        "previous_response_not_found",
    ),
    "metadata too large": (
        {"model": "coding", "input": "hi", "metadata": {f"k{i}": "v" for i in range(17)}},
        "metadata",
        "invalid_field",
    ),
}


@pytest.mark.parametrize(("body", "param", "code"), BAD.values(), ids=BAD.keys())
async def test_refused_with_the_parameter_named(
    client: Client,
    auth: dict[str, str],
    fake: FakeServer,
    body: dict[str, Any],
    param: str,
    code: str,
) -> None:
    error = await refused(client, auth, body)
    assert (error["param"], error["code"]) == (param, code), error
    assert fake.openai.attempts == 0


async def test_no_op_values_of_unsupported_parameters_are_accepted(
    client: Client, auth: dict[str, str]
) -> None:
    body = {
        "model": "coding",
        "input": "hi",
        "include": [],
        "truncation": "disabled",
        "background": False,
        "reasoning": None,
        "service_tier": "auto",
    }
    answer = await client.post("/v1/responses", json=body, headers=auth)
    assert answer.status == 200, await answer.text()


async def test_unknown_agent_is_404(client: Client, auth: dict[str, str]) -> None:
    answer = await client.post("/v1/responses", json={"model": "nope", "input": "hi"}, headers=auth)
    assert answer.status == 404
