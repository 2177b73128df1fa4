"""Streamed bodies read from the SDKs' aiohttp transport directly (app/providers/_body.py): the
same bytes, errors and read timeout as through httpx2, against the fake upstreams and real
aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aiohttp.test_utils import TestServer

from app.providers import ChatMessage, ChatParams, ErrorKind, OpenAIProvider, ProviderError
from app.providers._body import CHECKS_PER_PERIOD, aiohttp_source, body_chunks
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import ANTHROPIC_KEY, OPENAI_KEY

from .test_adapters import TRANSPORTS, make_provider, upstream

MESSAGES = [ChatMessage("user", "Write hello world")]
PARAMS = ChatParams(max_tokens=64)
SDKS: dict[str, tuple[ModuleType, str, str]] = {
    "openai": (openai, OPENAI_KEY, "/chat/completions"),
    "anthropic": (anthropic, ANTHROPIC_KEY, "/v1/messages"),
}


def sdk_client(name: str, fake: FakeServer, **options: Any) -> Any:
    sdk, key, _ = SDKS[name]
    client_class = sdk.AsyncOpenAI if name == "openai" else sdk.AsyncAnthropic
    base_url = fake.openai_url if name == "openai" else fake.anthropic_url
    return client_class(api_key=key, base_url=base_url, max_retries=0, **options)


async def streamed_post(client: Any, name: str) -> Any:
    sdk, _, path = SDKS[name]
    message = {"role": "user", "content": "hi"}
    tokens = "max_completion_tokens" if name == "openai" else "max_tokens"
    body = {"model": "m", tokens: 16, "stream": True, "messages": [message]}
    return await client.post(
        path, body=body, cast_to=object, stream=True, stream_cls=sdk.AsyncStream[object]
    )


@pytest.mark.parametrize("name", list(SDKS))
async def test_the_sdks_aiohttp_transport_is_read_directly(fake: FakeServer, name: str) -> None:
    # Reads the SDK's vendored transport and httpx2's stream wrapper: fails if either changes.
    sdk = SDKS[name][0]
    # Paced: aiohttp releases the connection (and its protocol) once a body has ended.
    upstream(fake, name).script(Behavior(chunk_delay=0.05))
    client = sdk_client(name, fake, http_client=sdk.DefaultAioHttpClient(), timeout=7.0)
    try:
        response = await streamed_post(client, name)
        source = aiohttp_source(response.response)
        assert source is not None
        aiohttp_response, map_errors = source
        assert map_errors.__module__ == f"{sdk.__name__}._vendor.httpx_aiohttp.transport"
        assert isinstance(aiohttp_response, aiohttp.ClientResponse)
        assert aiohttp_response.connection is not None
        protocol = aiohttp_response.connection.protocol
        assert protocol is not None
        assert protocol.read_timeout == 7.0
        chunks = body_chunks(response.response)
        body = await anext(chunks)
        # The read timeout was taken over, and the body is the body.
        assert protocol.read_timeout is None
        assert body.startswith(b"data: ") or body.startswith(b"event: ")
        body += b"".join([chunk async for chunk in chunks])
        assert body.rstrip().endswith((b"[DONE]", b"}"))
        await response.close()
    finally:
        await client.close()


@pytest.mark.parametrize("name", list(SDKS))
async def test_the_default_httpx2_transport_is_read_through_httpx2(
    fake: FakeServer, name: str
) -> None:
    client = sdk_client(name, fake)
    upstream = await streamed_post(client, name)
    try:
        assert aiohttp_source(upstream.response) is None
    finally:
        await upstream.close()
        await client.close()


def test_the_aiohttp_internals_the_read_timeout_relies_on() -> None:
    # BodyReadTimeout reads and calls these: a new aiohttp without them must fail here first.
    protocol = ResponseHandler(asyncio.new_event_loop())
    assert protocol._reading_paused is False
    assert protocol._buffer_paused is False
    assert callable(protocol._on_read_timeout)
    protocol.read_timeout = 3.0
    assert protocol.read_timeout == 3.0
    assert hasattr(aiohttp.StreamReader, "total_bytes") or "total_bytes" in (
        aiohttp.StreamReader.__slots__
    )


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("name", list(SDKS))
async def test_a_stream_that_stalls_fails_on_the_read_timeout_not_earlier(
    fake: FakeServer, name: str, transport: str
) -> None:
    timeout = 0.4
    upstream(fake, name).script(Behavior(chunks=("a", "b"), chunk_delay=2.0))
    provider = make_provider(fake, name, 0, timeout, on_transport=transport)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        async for _ in provider.stream("m", "", MESSAGES, PARAMS):
            pass
    elapsed = time.monotonic() - started
    await provider.aclose()
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert timeout <= elapsed < timeout * (1 + 1 / CHECKS_PER_PERIOD) + 0.5


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("name", list(SDKS))
async def test_a_slow_reader_of_a_steady_stream_does_not_time_out(
    fake: FakeServer, name: str, transport: str
) -> None:
    # The upstream sends every 0.1 s; the reader stops for longer than the timeout. aiohttp
    # counts the bytes that arrive, not the reads: no timeout.
    upstream(fake, name).script(Behavior(chunks=("a",) * 12, chunk_delay=0.1))
    provider = make_provider(fake, name, 0, 0.4, on_transport=transport)
    text: list[str] = []
    async for item in provider.stream("m", "", MESSAGES, PARAMS):
        if isinstance(item, str):
            if not text:
                await asyncio.sleep(1.0)
            text.append(item)
    await provider.aclose()
    assert "".join(text) == "a" * 12


async def test_a_stream_that_stalls_after_some_chunks_times_out() -> None:
    # Packets after the body's first re-armed aiohttp's timer before: now only ours runs.
    timeout = 0.4

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
        for _ in range(5):
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.05)
        await asyncio.sleep(5)
        return response

    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await _stream_from(stall, pause_after_first=0, read_timeout=timeout)
    # The last byte left the server after four 0.05 s pauses.
    elapsed = time.monotonic() - started - 0.2
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert timeout <= elapsed < timeout * (1 + 1 / CHECKS_PER_PERIOD) + 0.3


async def test_a_reader_that_holds_back_a_fast_upstream_does_not_time_out() -> None:
    # Megabytes sent at once fill aiohttp's buffer and pause reading: then the wait is the
    # reader's, not the peer's, and aiohttp stops the clock.
    text = "x" * 4000

    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        for _ in range(500):
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(f"data: {json.dumps(finish)}\n\ndata: [DONE]\n\n".encode())
        return response

    received = await _stream_from(flood, pause_after_first=1.2, read_timeout=0.4)
    assert received == text * 500


async def test_a_compressed_stream_is_decoded() -> None:
    # The transport asks aiohttp for the raw bytes; httpx2 decodes them: such a body is read
    # through httpx2.
    async def compressed(request: web.Request) -> web.Response:
        chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
        body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
        )

    assert await _stream_from(compressed, pause_after_first=0, read_timeout=5) == "hi"


async def _stream_from(handler: Any, *, pause_after_first: float, read_timeout: float) -> str:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    async with TestServer(app) as server:
        provider = OpenAIProvider(
            api_key=OPENAI_KEY,
            api_base=str(server.make_url("/v1")),
            max_retries=0,
            timeout=read_timeout,
            http_client=openai.DefaultAioHttpClient(),
        )
        try:
            return await _text(provider.stream("m", "", MESSAGES, PARAMS), pause_after_first)
        finally:
            await provider.aclose()


async def _text(items: AsyncIterator[object], pause_after_first: float) -> str:
    text: list[str] = []
    async for item in items:
        if isinstance(item, str):
            if not text:
                await asyncio.sleep(pause_after_first)
            text.append(item)
    return "".join(text)
