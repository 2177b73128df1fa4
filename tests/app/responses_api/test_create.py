"""POST /v1/responses without streaming, with the official OpenAI SDK as the client, over an OpenAI
agent and an Anthropic agent; the SDK's own types validate every answer's shape. The fakes refuse
any upstream request the real API would refuse (tests/fakes/_rules.py)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseFunctionToolCall, ResponseOutputMessage

from tests.app.conftest import Client
from tests.fakes import Behavior, FakeServer, FakeUpstream, ScriptedCall

AGENTS = ["coding", "coding-claude"]
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]
CALL = ScriptedCall("get_weather", '{"city":"Paris"}', id="call_w")


def upstream(fake: FakeServer, agent: str) -> FakeUpstream:
    return fake.anthropic if agent.endswith("claude") else fake.openai


def raw(body: dict[str, Any]) -> Response:
    """The SDK's own model, strictly: every field it knows has the right type."""
    return Response.model_validate(body, strict=False)


@pytest.mark.parametrize("agent", AGENTS)
async def test_text_answer_in_openais_shape(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    response = await sdk.responses.create(
        model=agent,
        input="Say hello",
        instructions="Be brief.",
        metadata={"ticket": "42"},
        user="u-1",
        max_output_tokens=100,
    )
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.incomplete_details is None
    assert response.output_text == "Hello, world!"
    [message] = response.output
    assert isinstance(message, ResponseOutputMessage)
    assert message.role == "assistant"
    assert message.status == "completed"
    assert response.usage is not None
    assert response.usage.input_tokens == 11
    assert response.usage.output_tokens == 4
    assert response.usage.total_tokens == 15
    assert response.metadata == {"ticket": "42"}
    assert response.model == agent
    body = upstream(fake, agent).requests[-1]
    sent = json.dumps(body)
    assert "Be brief." in sent
    assert "Say hello" in sent
    assert (body.get("max_tokens") or body.get("max_completion_tokens")) == 100


@pytest.mark.parametrize("agent", AGENTS)
async def test_function_call_and_its_output(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(
        Behavior(chunks=(), tool_calls=(CALL,)), Behavior(chunks=("Sunny.",))
    )
    first = await sdk.responses.create(model=agent, input="Weather in Paris?", tools=TOOLS)
    [call] = first.output
    assert isinstance(call, ResponseFunctionToolCall)
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_w",
        "get_weather",
        {"city": "Paris"},
    )
    assert call.id is not None
    assert call.id.startswith("fc_")
    second = await sdk.responses.create(
        model=agent,
        tools=TOOLS,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            call.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C, sunny"},
        ],
    )
    assert second.output_text == "Sunny."
    assert "18C, sunny" in json.dumps(upstream(fake, agent).requests[-1])


@pytest.mark.parametrize("agent", AGENTS)
async def test_token_limit_is_incomplete(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    finish = "max_tokens" if agent.endswith("claude") else "length"
    upstream(fake, agent).script(Behavior(finish=finish))
    response = await sdk.responses.create(model=agent, input="Write a lot", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


@pytest.mark.parametrize("agent", AGENTS)
async def test_parse_with_a_pydantic_model(
    sdk: openai.AsyncOpenAI, fake: FakeServer, agent: str
) -> None:
    upstream(fake, agent).script(Behavior(chunks=('{"city":"Paris",', '"celsius":18}')))
    parsed = await sdk.responses.parse(model=agent, input="Weather?", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", celsius=18)
    body = upstream(fake, agent).requests[-1]
    if agent == "coding":
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["name"] == "Weather"


async def test_raw_body_validates_as_the_sdks_response(
    client: Client, auth: dict[str, str]
) -> None:
    answer = await client.post(
        "/v1/responses",
        json={
            "model": "coding",
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hi"}],
                }
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "safety_identifier": "s-1",
            "parallel_tool_calls": False,
            "store": False,
        },
        headers=auth,
    )
    assert answer.status == 200
    body = await answer.json()
    response = raw(body)
    assert response.temperature == 0.2
    assert response.top_p == 0.9
    assert response.safety_identifier == "s-1"
    assert response.parallel_tool_calls is False
    assert body["store"] is False
    assert answer.headers["X-Agentsmcp-Agent"] == "coding"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_fallback_answers_and_is_named(
    client: Client, auth: dict[str, str], fake: FakeServer, stream: bool
) -> None:
    fake.openai.default = Behavior(status=503)
    answer = await client.post(
        "/v1/responses", json={"model": "coding", "input": "hi", "stream": stream}, headers=auth
    )
    assert answer.status == 200
    assert answer.headers["X-Agentsmcp-Agent"] == "coding-claude"
    text = await answer.text()
    body = json.loads(text if not stream else text.rsplit("data: ", 1)[1])
    response = body if not stream else body["response"]
    assert response["model"] == "coding-claude"
    assert raw(response).output_text == "Hello, world!"
