"""POST /v1/chat/completions with the official OpenAI SDK as the client, over both providers."""

from __future__ import annotations

import json

import openai
import pytest

from tests.app.conftest import AgentClientFactory, Client
from tests.fakes import Behavior, FakeServer
from tests.sse import sse_events

# "coding" runs on OpenAI, "coding-claude" on Anthropic.
AGENTS = ["coding", "coding-claude"]
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write hello world"}
]


@pytest.mark.parametrize("agent", AGENTS)
async def test_non_streaming(sdk: openai.AsyncOpenAI, agent: str) -> None:
    completion = await sdk.chat.completions.create(model=agent, messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.created > 0
    assert completion.model == agent
    assert completion.choices[0].message.content == "Hello, world!"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 4)
    assert completion.usage.total_tokens == 15


@pytest.mark.parametrize("agent", AGENTS)
async def test_streaming_with_usage(sdk: openai.AsyncOpenAI, agent: str) -> None:
    stream = await sdk.chat.completions.create(
        model=agent, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello, world!"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 4, 15)


async def test_stream_without_usage_ends_with_done(client: Client, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": MESSAGES, "stream": True},
        headers=auth,
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Agentsmcp-Agent"] == "coding"
    assert "X-Request-ID" in response.headers
    events = sse_events(await response.text())
    assert events[-1] == (None, "[DONE]")
    payloads = [json.loads(data) for _, data in events[:-1]]
    assert all("usage" not in payload for payload in payloads)


async def test_system_prompt_is_prepended(sdk: openai.AsyncOpenAI, fake: FakeServer) -> None:
    await sdk.chat.completions.create(
        model="coding",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
        max_tokens=50,
        temperature=0.5,
        top_p=0.5,
        stop=["X"],
        user="alice",
    )
    await sdk.chat.completions.create(model="coding-claude", messages=MESSAGES)
    (sent,) = fake.openai.requests
    assert sent["messages"][0] == {"role": "system", "content": "You are a careful engineer."}
    assert sent["messages"][1:] == [{"role": "system", "content": "Be brief."}, *MESSAGES]
    assert sent["max_completion_tokens"] == 50
    assert (sent["temperature"], sent["top_p"], sent["stop"], sent["user"]) == (
        0.5,
        0.5,
        ["X"],
        "alice",
    )
    (anthropic_sent,) = fake.anthropic.requests
    assert anthropic_sent["system"] == "You are a careful engineer."
    # Anthropic needs max_tokens: the agent's configured limit when the request has none.
    assert anthropic_sent["max_tokens"] == 256


async def test_max_tokens_is_capped_by_the_agent(sdk: openai.AsyncOpenAI, fake: FakeServer) -> None:
    await sdk.chat.completions.create(
        model="coding-claude", messages=MESSAGES, max_completion_tokens=100_000
    )
    assert fake.anthropic.requests[0]["max_tokens"] == 256


async def test_default_valued_openai_fields_are_accepted(
    client: Client, auth: dict[str, str], fake: FakeServer
) -> None:
    # What many clients send by default: null, or the value that changes nothing.
    neutral = {"frequency_penalty": 0, "presence_penalty": 0, "logprobs": False, "seed": None}
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": MESSAGES, **neutral, "tools": []},
        headers=auth,
    )
    assert response.status == 200
    assert set(fake.openai.requests[-1]) == {"model", "messages", "max_completion_tokens"}


async def test_text_content_parts(client: Client, auth: dict[str, str], fake: FakeServer) -> None:
    content = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": [{"role": "user", "content": content}]},
        headers=auth,
    )
    assert response.status == 200
    assert fake.openai.requests[0]["messages"][-1] == {"role": "user", "content": "Hello there"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": 3, "messages": MESSAGES}, "model"),
        ({"model": "coding"}, "messages"),
        ({"model": "coding", "messages": "hi"}, "messages"),
        ({"model": "coding", "messages": []}, "messages"),
        ({"model": "coding", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "coding", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "coding", "messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {"model": "coding", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
        ),
        ({"model": "coding", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"model": "coding", "messages": MESSAGES, "temperature": "hot"}, "temperature"),
        ({"model": "coding", "messages": MESSAGES, "temperature": 3}, "temperature"),
        ({"model": "coding", "messages": MESSAGES, "top_p": 1.5}, "top_p"),
        ({"model": "coding", "messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"model": "coding", "messages": MESSAGES, "max_tokens": 1.5}, "max_tokens"),
        (
            {"model": "coding", "messages": MESSAGES, "max_completion_tokens": True},
            "max_completion_tokens",
        ),
        ({"model": "coding", "messages": MESSAGES, "stop": [1]}, "stop"),
        ({"model": "coding", "messages": MESSAGES, "user": 7}, "user"),
        ({"model": "coding", "messages": MESSAGES, "n": 2}, "n"),
        (
            {"model": "coding", "messages": MESSAGES, "stream_options": {"include_usage": 1}},
            "stream_options.include_usage",
        ),
        ([1, 2], "body"),
    ],
)
async def test_invalid_bodies(
    client: Client, auth: dict[str, str], fake: FakeServer, body: object, param: str
) -> None:
    response = await client.post("/v1/chat/completions", json=body, headers=auth)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"].startswith(f"{param}: ")
    assert fake.openai.attempts == 0


async def test_unknown_agent(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.chat.completions.create(model="nope", messages=MESSAGES)
    assert caught.value.code == "agent_not_found"


async def test_requires_a_token(client: Client) -> None:
    response = await client.post("/v1/chat/completions", json={"model": "coding"})
    assert response.status == 401


async def test_mid_stream_failure_sends_one_error_chunk_then_done(
    client: Client, auth: dict[str, str], fake: FakeServer
) -> None:
    fake.openai.script(Behavior(drop_after=2))
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": MESSAGES, "stream": True},
        headers=auth,
    )
    assert response.status == 200
    events = sse_events(await response.text())
    assert events[-1] == (None, "[DONE]")
    error = json.loads(events[-2][1])["error"]
    assert error["code"] == "upstream_unavailable"
    texts = [json.loads(data)["choices"][0]["delta"].get("content") for _, data in events[:-2]]
    assert "".join(t or "" for t in texts) == "Hello, "
    # No fallback once text was sent: the fallback agent was never called.
    assert fake.anthropic.attempts == 0


async def test_mid_stream_failure_raises_in_the_sdk(
    sdk: openai.AsyncOpenAI, fake: FakeServer
) -> None:
    fake.anthropic.script(Behavior(drop_after=1, drop_mode="reset"))
    stream = await sdk.chat.completions.create(
        model="coding-claude", messages=MESSAGES, stream=True
    )
    received: list[object] = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(openai.APIError, match="coding-claude"):
        await consume()
    assert received


async def test_failure_before_the_first_token_is_a_json_error(
    make_agent_client: AgentClientFactory, auth: dict[str, str], fake: FakeServer
) -> None:
    client = await make_agent_client(max_retries=0)
    fake.openai.default = Behavior(status=401)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": MESSAGES, "stream": True},
        headers=auth,
    )
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "upstream_auth_error"


@pytest.mark.parametrize("stream", [False, True])
async def test_fallback_says_which_agent_answered(
    make_agent_client: AgentClientFactory, auth: dict[str, str], fake: FakeServer, stream: bool
) -> None:
    client = await make_agent_client(max_retries=1)
    fake.openai.default = Behavior(status=529, retry_after_ms=5)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": MESSAGES, "stream": stream},
        headers=auth,
    )
    assert response.status == 200
    assert response.headers["X-Agentsmcp-Agent"] == "coding-claude"
    if stream:
        first = json.loads(sse_events(await response.text())[0][1])
        assert first["model"] == "coding-claude"
    else:
        assert (await response.json())["model"] == "coding-claude"
    assert fake.openai.attempts == 2
    assert fake.anthropic.attempts == 1


async def test_fallback_run_reports_the_answering_agent(
    client: Client, auth: dict[str, str], fake: FakeServer
) -> None:
    fake.openai.default = Behavior(status=503, retry_after_ms=5)
    response = await client.post("/v1/agents/coding/runs", json={"input": "hi"}, headers=auth)
    body = await response.json()
    assert (body["agent"], body["provider"]) == ("coding-claude", "anthropic")


def test_known_fields_are_exactly_the_sdks_chat_completion_arguments() -> None:
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase

    from app.openai_api.requests import CHAT_FIELDS, OPENAI_ONLY_FIELDS

    sdk = set(CompletionCreateParamsBase.__annotations__) | {"stream"}
    assert sdk == CHAT_FIELDS | OPENAI_ONLY_FIELDS
    assert not CHAT_FIELDS & OPENAI_ONLY_FIELDS


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"seed": 7}, "seed"),
        ({"logprobs": True}, "logprobs"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ],
)
async def test_unsupported_openai_arguments_are_refused(
    sdk: openai.AsyncOpenAI, fake: FakeServer, extra: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(
            model="coding",
            messages=MESSAGES,
            extra_body=extra,
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error == {
        "message": f"{param}: is not supported by this server; remove it from the request",
        "type": "invalid_request_error",
        "code": "unsupported_parameter",
        "param": param,
    }
    assert fake.openai.attempts == 0


async def test_unknown_arguments_are_refused_in_openais_words(
    client: Client, auth: dict[str, str], fake: FakeServer
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding", "messages": MESSAGES, "frobnicate": 1},
        headers=auth,
    )
    assert response.status == 400
    assert (await response.json())["error"] == {
        "message": "Unrecognized request argument supplied: frobnicate",
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "param": "frobnicate",
    }
    assert fake.openai.attempts == 0
