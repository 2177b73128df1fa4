"""Both provider adapters, over the real SDKs, against the fake upstreams on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.config import ANTHROPIC_API_VERSION
from app.providers import (
    AnthropicProvider,
    ChatMessage,
    ChatParams,
    ChatProvider,
    ErrorKind,
    OpenAIProvider,
    ProviderError,
    StreamEnd,
    Usage,
)
from tests.fakes import Behavior, FakeServer, FakeUpstream
from tests.fakes.appconfig import ANTHROPIC_KEY, OPENAI_KEY

MESSAGES = [ChatMessage("user", "Write hello world")]
PARAMS = ChatParams(max_tokens=64, temperature=0.3, top_p=0.9, stop=("END",), user="u-1")
FAST_RETRY = {"retry_after_ms": 5}


TRANSPORTS: dict[str, Callable[[], httpx2.AsyncClient | None]] = {
    "httpx": lambda: None,
    "aiohttp": openai.DefaultAioHttpClient,
}
transport = "httpx"


@pytest.fixture(autouse=True, params=list(TRANSPORTS))
def each_transport(request: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs on the SDKs' default transport and on the aiohttp one the server uses."""
    monkeypatch.setattr(sys.modules[__name__], "transport", request.param)


def make_provider(
    fake: FakeServer,
    name: str,
    max_retries: int = 2,
    timeout: float = 5,
    on_transport: str | None = None,
) -> ChatProvider:
    """The adapter of provider ``name`` on ``on_transport`` (the test's, by default)."""
    client = TRANSPORTS[on_transport or transport]()
    if name == "openai":
        return OpenAIProvider(
            api_key=OPENAI_KEY,
            api_base=fake.openai_url,
            max_retries=max_retries,
            timeout=timeout,
            http_client=client,
        )
    return AnthropicProvider(
        api_key=ANTHROPIC_KEY,
        api_base=fake.anthropic_url,
        max_retries=max_retries,
        timeout=timeout,
        http_client=client,
    )


def upstream(fake: FakeServer, name: str) -> FakeUpstream:
    return fake.openai if name == "openai" else fake.anthropic


@pytest.fixture(params=["openai", "anthropic"])
async def provider(request: Any, fake: FakeServer) -> AsyncIterator[ChatProvider]:
    client = make_provider(fake, request.param)
    yield client
    await client.aclose()


async def collect(provider: ChatProvider) -> tuple[str, StreamEnd]:
    text = []
    reports: list[Usage] = []
    end = None
    async for item in provider.stream("model-x", "System prompt.", MESSAGES, PARAMS):
        if isinstance(item, StreamEnd):
            end = item
        elif isinstance(item, Usage):
            # Cumulative reports, as the provider sends them; the end carries the total.
            assert end is None
            reports.append(item)
        else:
            text.append(item)
    assert end is not None
    assert reports, "a stream reports its usage before it ends"
    assert reports[-1] == end.usage
    return "".join(text), end


async def test_complete(provider: ChatProvider, fake: FakeServer) -> None:
    completion = await provider.complete("model-x", "System prompt.", MESSAGES, PARAMS)
    assert completion.text == "Hello, world!"
    assert completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 4)
    assert completion.model == "model-x"


async def test_stream(provider: ChatProvider) -> None:
    text, end = await collect(provider)
    assert text == "Hello, world!"
    assert end.finish_reason == "stop"
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (11, 4)


async def test_openai_request_translation(fake: FakeServer) -> None:
    provider = make_provider(fake, "openai")
    await provider.complete("gpt-x", "System prompt.", MESSAGES, PARAMS)
    await collect(provider)
    await provider.aclose()
    plain, streamed = fake.openai.requests
    assert plain["messages"] == [
        {"role": "system", "content": "System prompt."},
        {"role": "user", "content": "Write hello world"},
    ]
    assert plain["model"] == "gpt-x"
    assert plain["max_completion_tokens"] == 64
    assert (plain["temperature"], plain["top_p"], plain["stop"], plain["user"]) == (
        0.3,
        0.9,
        ["END"],
        "u-1",
    )
    assert streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}
    assert fake.openai.headers[0]["authorization"] == f"Bearer {OPENAI_KEY}"


async def test_anthropic_request_translation(fake: FakeServer) -> None:
    provider = make_provider(fake, "anthropic")
    await provider.complete("claude-x", "System prompt.", MESSAGES, PARAMS)
    await provider.aclose()
    (body,) = fake.anthropic.requests
    assert body["system"] == "System prompt."
    assert body["messages"] == [{"role": "user", "content": "Write hello world"}]
    assert body["max_tokens"] == 64
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-1"}
    # The API version the SDK sends (2026-10-21) refuses any sampling parameter.
    assert not {"temperature", "top_p", "top_k"} & set(body)
    headers = fake.anthropic.headers[0]
    assert headers["anthropic-version"] == ANTHROPIC_API_VERSION
    sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert sent == ANTHROPIC_KEY


async def test_anthropic_body_follows_the_api_rules(fake: FakeServer) -> None:
    provider = make_provider(fake, "anthropic")
    messages = [
        ChatMessage("user", "first"),
        ChatMessage("assistant", ""),  # empty non-final content: refused by Anthropic
        ChatMessage("user", "   "),
        ChatMessage("user", "second"),
        ChatMessage("assistant", "Prefill with trailing space "),
    ]
    params = ChatParams(max_tokens=8, temperature=1.7, top_p=0.2, user="u" * 300)
    await provider.complete("claude-x", "  ", messages, params)
    await provider.aclose()
    assert not fake.anthropic.rejected
    (body,) = fake.anthropic.requests
    assert body["messages"] == [
        {"role": "user", "content": "first\n\nsecond"},
        {"role": "assistant", "content": "Prefill with trailing space"},
    ]
    assert "system" not in body
    assert body["metadata"]["user_id"] == hashlib.sha256(b"u" * 300).hexdigest()


async def test_anthropic_refuses_a_conversation_without_content_itself(fake: FakeServer) -> None:
    provider = make_provider(fake, "anthropic")
    with pytest.raises(ProviderError) as caught:
        await provider.complete("claude-x", "", [ChatMessage("user", "")], PARAMS)
    await provider.aclose()
    assert caught.value.kind is ErrorKind.REQUEST
    assert fake.anthropic.attempts == 0


def test_config_names_the_sdks_anthropic_version() -> None:
    from anthropic._constants import ANTHROPIC_API_VERSION as sdk_version

    assert sdk_version == ANTHROPIC_API_VERSION


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_anthropic_stop_reasons_and_openai_finish_reasons(
    fake: FakeServer, name: str
) -> None:
    finish = "length" if name == "openai" else "max_tokens"
    upstream(fake, name).script(Behavior(finish=finish), Behavior(finish=finish))
    provider = make_provider(fake, name)
    completion = await provider.complete("m", "", MESSAGES, PARAMS)
    _, end = await collect(provider)
    await provider.aclose()
    assert completion.finish_reason == end.finish_reason == "length"


@pytest.mark.parametrize("name", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("status", "kind", "attempts"),
    [
        (400, ErrorKind.REQUEST, 1),
        (401, ErrorKind.AUTH, 1),
        (429, ErrorKind.RATE_LIMIT, 3),
        (500, ErrorKind.OVERLOADED, 3),
        (502, ErrorKind.OVERLOADED, 3),
        (503, ErrorKind.OVERLOADED, 3),
        (529, ErrorKind.OVERLOADED, 3),
    ],
)
async def test_errors_after_sdk_retries(
    fake: FakeServer, name: str, status: int, kind: ErrorKind, attempts: int
) -> None:
    target = upstream(fake, name)
    target.default = Behavior(status=status, message="model is bogus", **FAST_RETRY)
    provider = make_provider(fake, name, max_retries=2)
    with pytest.raises(ProviderError) as caught:
        await provider.complete("m", "", MESSAGES, PARAMS)
    await provider.aclose()
    assert caught.value.kind is kind
    # The SDK's retries are the only retry layer: max_retries + 1 upstream calls at most.
    assert target.attempts == attempts
    if kind is ErrorKind.REQUEST:
        assert "model is bogus" in caught.value.message


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_rate_limit_keeps_retry_after(fake: FakeServer, name: str) -> None:
    upstream(fake, name).default = Behavior(status=429, retry_after=0.01)
    provider = make_provider(fake, name, max_retries=0)
    with pytest.raises(ProviderError) as caught:
        await provider.complete("m", "", MESSAGES, PARAMS)
    await provider.aclose()
    assert caught.value.retry_after == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
@pytest.mark.parametrize("mode", ["close", "reset"])
async def test_mid_stream_drop_is_a_connection_error(
    fake: FakeServer, name: str, mode: str
) -> None:
    upstream(fake, name).script(Behavior(drop_after=2, drop_mode=mode))  # type: ignore[arg-type]
    provider = make_provider(fake, name)
    received: list[object] = []

    async def consume() -> None:
        async for item in provider.stream("m", "", MESSAGES, PARAMS):
            received.append(item)

    with pytest.raises(ProviderError) as caught:
        await consume()
    await provider.aclose()
    assert caught.value.kind is ErrorKind.CONNECTION
    assert caught.value.retryable
    assert [item for item in received if isinstance(item, str)] == ["Hello", ", "]
    # Anthropic reports the prompt's tokens at message_start: a broken run can charge them.
    reports = [item for item in received if isinstance(item, Usage)]
    assert (reports[0].prompt_tokens > 0) if name == "anthropic" else reports == []


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_malformed_body(fake: FakeServer, name: str) -> None:
    upstream(fake, name).script(Behavior(malformed_body=True))
    provider = make_provider(fake, name)
    with pytest.raises(ProviderError) as caught:
        await provider.complete("m", "", MESSAGES, PARAMS)
    await provider.aclose()
    assert caught.value.kind is ErrorKind.BAD_RESPONSE
    assert not caught.value.retryable


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_unparseable_stream_event(fake: FakeServer, name: str) -> None:
    upstream(fake, name).script(Behavior(bad_sse_after=1))
    provider = make_provider(fake, name)
    with pytest.raises(ProviderError) as caught:
        await collect(provider)
    await provider.aclose()
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_closing_a_stream_early_closes_the_upstream_connection(
    fake: FakeServer, name: str
) -> None:
    target = upstream(fake, name)
    target.script(Behavior(chunks=("a",) * 50, chunk_delay=0.05))
    provider = make_provider(fake, name)
    stream = provider.stream("m", "", MESSAGES, PARAMS)
    item = await anext(stream)
    while isinstance(item, Usage):
        item = await anext(stream)
    assert item == "a"
    await stream.aclose()
    disconnect = await target.wait_disconnect(within=1.0)
    await provider.aclose()
    assert disconnect.chunks_sent < 50


async def test_connection_refused_is_a_connection_error() -> None:
    async with FakeServer() as server:
        url = server.openai_url
    provider = OpenAIProvider(
        api_key=OPENAI_KEY,
        api_base=url,
        max_retries=0,
        timeout=5,
        http_client=TRANSPORTS[transport](),
    )
    with pytest.raises(ProviderError) as caught:
        await provider.complete("m", "", MESSAGES, PARAMS)
    await provider.aclose()
    assert caught.value.kind is ErrorKind.CONNECTION


@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_sdk_request_timeout(fake: FakeServer, name: str) -> None:
    upstream(fake, name).default = Behavior(header_delay=3)
    provider = make_provider(fake, name, max_retries=0, timeout=0.3)
    with pytest.raises(ProviderError) as caught:
        await provider.complete("m", "", MESSAGES, PARAMS)
    await provider.aclose()
    assert caught.value.kind is ErrorKind.TIMEOUT


async def test_an_openai_stream_that_stays_open_after_done_ends_at_done() -> None:
    # Some OpenAI-compatible servers keep the body open after [DONE]: the answer is complete
    # there, and waiting for the body's end would hold the run until its deadline.
    async def never_ending(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
        finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        for data in (json.dumps(chunk), json.dumps(finish), "[DONE]"):
            await response.write(f"data: {data}\n\n".encode())
        await asyncio.sleep(30)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", never_ending)
    async with TestServer(app) as server:
        provider = OpenAIProvider(
            api_key=OPENAI_KEY,
            api_base=str(server.make_url("/v1")),
            max_retries=0,
            timeout=10,
            http_client=TRANSPORTS[transport](),
        )
        started = time.monotonic()
        items = [item async for item in provider.stream("m", "", MESSAGES, PARAMS)]
        elapsed = time.monotonic() - started
        await provider.aclose()
    assert items[0] == "hi"
    assert isinstance(items[-1], StreamEnd)
    assert items[-1].finish_reason == "stop"
    assert elapsed < 10  # the server holds the body open for 30 s


@pytest.mark.parametrize("value", ["NaN", '"\\ud800"'])
@pytest.mark.parametrize("name", ["openai", "anthropic"])
async def test_an_event_with_nan_or_a_lone_surrogate_is_malformed(
    fake: FakeServer, name: str, value: str
) -> None:
    """The events' JSON parser refuses what Python's json would pass on to the client."""
    provider = make_provider(fake, name)
    event = ("message_delta" if name == "anthropic" else None, f'{{"type": "x", "v": {value}}}')

    async def events() -> AsyncIterator[tuple[str | None, str]]:
        yield event

    with pytest.raises(json.JSONDecodeError) as raised:
        async for _ in provider._read_stream(events(), "m"):
            pass
    await provider.aclose()
    assert provider._error(raised.value).kind is ErrorKind.BAD_RESPONSE
