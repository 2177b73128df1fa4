"""The CPU floor of one upstream call: a bare aiohttp session against the official SDKs.

Starts the fake upstream (tests.fakes) on one CPU, pins itself to another, and makes the same
non-streaming call back to back in several ways, reporting CPU time per call (best of 3
batches; the ways take turns batch by batch, so other work on a shared machine weighs on all of
them alike; startup objects frozen out of the GC so collections do not blur the numbers). The
server cannot cost less per request than its SDK call, so this bounds what any server-side fix
can reach.
Then the same for a streamed call of ``STREAM_CHUNKS`` text chunks, read to its end: a bare
aiohttp session, the SDK's request with our decoder (app/providers/_sse.py), the same through
our client (its requests built from templates, app/providers/_templates.py: what the adapters
do), and the SDK's own stream class.

    python -m bench.sdk_floor [--calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2
import openai

from app.providers._anthropic import AsyncAnthropic as OurAnthropic
from app.providers._openai import AsyncOpenAI as OurOpenAI
from app.providers._sse import server_sent_events
from bench.processes import ANTHROPIC_KEY, ANTHROPIC_MODEL, OPENAI_KEY, OPENAI_MODEL, fake_upstream

SYSTEM_PROMPT = "You are a concise assistant."
MESSAGES = [{"role": "user", "content": "Say hello to the benchmark."}]
WARMUP_CALLS = 200
BATCHES = 3
STREAM_CHUNKS = 20
OPENAI_BODY = {
    "model": OPENAI_MODEL,
    "messages": [{"role": "system", "content": SYSTEM_PROMPT}, *MESSAGES],
    "max_completion_tokens": 256,
}
ANTHROPIC_BODY = {
    "model": ANTHROPIC_MODEL,
    "system": SYSTEM_PROMPT,
    "messages": MESSAGES,
    "max_tokens": 256,
}
STREAM_BODY = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}}
OPENAI_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {OPENAI_KEY}"}

Call = Callable[[], Awaitable[object]]


async def cpu_per_call(rows: list[tuple[str, Call]], calls: int) -> list[tuple[str, float]]:
    """Each row's best batch, in microseconds per call; the rows take turns batch by batch."""
    for _, call in rows:
        for _ in range(WARMUP_CALLS):
            await call()
    gc.collect()
    gc.freeze()
    best = {name: float("inf") for name, _ in rows}
    for _ in range(BATCHES):
        for name, call in rows:
            started = time.process_time()
            for _ in range(calls):
                await call()
            best[name] = min(best[name], (time.process_time() - started) / calls)
    return [(name, best[name] * 1e6) for name, _ in rows]


@asynccontextmanager
async def clients(base_url: str) -> AsyncIterator[dict[str, Any]]:
    """An aiohttp session, and each SDK's client and ours, on the aiohttp transport."""
    async with AsyncExitStack() as stack:
        opened: dict[str, Any] = {
            "aiohttp": await stack.enter_async_context(aiohttp.ClientSession()),
            "openai": openai.AsyncOpenAI(
                api_key=OPENAI_KEY,
                base_url=f"{base_url}/v1",
                http_client=openai.DefaultAioHttpClient(),
            ),
            "anthropic": anthropic.AsyncAnthropic(
                api_key=ANTHROPIC_KEY,
                base_url=base_url,
                http_client=anthropic.DefaultAioHttpClient(),
            ),
            "our openai": OurOpenAI(
                api_key=OPENAI_KEY,
                base_url=f"{base_url}/v1",
                http_client=openai.DefaultAioHttpClient(),
            ),
            "our anthropic": OurAnthropic(
                api_key=ANTHROPIC_KEY,
                base_url=base_url,
                http_client=anthropic.DefaultAioHttpClient(),
                open_telemetry=False,
            ),
        }
        for name, client in opened.items():
            if name != "aiohttp":
                stack.push_async_callback(client.close)
        yield opened


def plain_calls(base_url: str, opened: dict[str, Any]) -> list[tuple[str, Call]]:
    """One non-streaming completion, each way."""
    session: aiohttp.ClientSession = opened["aiohttp"]
    client: openai.AsyncOpenAI = opened["openai"]

    async def bare_aiohttp() -> object:
        payload = json.dumps(OPENAI_BODY).encode()
        url = f"{base_url}/v1/chat/completions"
        async with session.post(url, data=payload, headers=OPENAI_HEADERS) as response:
            return json.loads(await response.read())

    async def openai_post() -> object:
        return await client.post("/chat/completions", body=OPENAI_BODY, cast_to=object)

    async def openai_create() -> object:
        return await client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, *MESSAGES],  # type: ignore[list-item]
            max_completion_tokens=256,
        )

    async def anthropic_post() -> object:
        return await opened["anthropic"].post("/v1/messages", body=ANTHROPIC_BODY, cast_to=object)

    async def our_openai_post() -> object:
        return await opened["our openai"].post_json("/chat/completions", OPENAI_BODY)

    async def our_anthropic_post() -> object:
        return await opened["our anthropic"].post_json("/v1/messages", ANTHROPIC_BODY)

    return [
        ("aiohttp ClientSession.post + json (the minimal proxy's way)", bare_aiohttp),
        ("openai SDK client.post(cast_to=object), aiohttp transport", openai_post),
        ("openai SDK chat.completions.create(), aiohttp transport", openai_create),
        ("anthropic SDK client.post(cast_to=object), aiohttp transport", anthropic_post),
        ("our openai client (app/providers, requests from templates).post_json", our_openai_post),
        (
            "our anthropic client (app/providers, requests from templates).post_json",
            our_anthropic_post,
        ),
    ]


def streamed_calls(base_url: str, opened: dict[str, Any]) -> list[tuple[str, Call]]:
    """One streamed completion, read to its end, four ways."""
    session: aiohttp.ClientSession = opened["aiohttp"]
    client: openai.AsyncOpenAI = opened["openai"]
    ours: OurOpenAI = opened["our openai"]
    payload = json.dumps(STREAM_BODY).encode()

    async def bare() -> object:
        url = f"{base_url}/v1/chat/completions"
        async with session.post(url, data=payload, headers=OPENAI_HEADERS) as response:
            async for _ in response.content.iter_any():
                pass
        return None

    async def sdk_stream() -> openai.AsyncStream[object]:
        return await client.post(
            "/chat/completions",
            body=STREAM_BODY,
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )

    async def sdk_stream_response() -> httpx2.Response:
        return (await sdk_stream()).response

    async def our_client_stream() -> httpx2.Response:
        response: httpx2.Response = await ours.post_json(
            "/chat/completions", STREAM_BODY, stream=True
        )
        return response

    async def sdk_stream_class() -> object:
        upstream = await sdk_stream()
        async for _ in upstream:
            pass
        return None

    return [
        ("streamed: aiohttp ClientSession.post, bytes to the end", bare),
        (
            "streamed: openai SDK client.post(stream=True) + our decoder (app/providers/_sse.py)",
            with_our_decoder(sdk_stream_response),
        ),
        (
            "streamed: our openai client post_json(stream) + our decoder (what app/providers does)",
            with_our_decoder(our_client_stream),
        ),
        ("streamed: openai SDK client.post(stream=True) + the SDK's AsyncStream", sdk_stream_class),
    ]


def with_our_decoder(start: Callable[[], Awaitable[httpx2.Response]]) -> Call:
    async def call() -> object:
        upstream = await start()
        try:
            async for _, data in server_sent_events(upstream.aiter_bytes()):
                if not data.startswith("[DONE]"):
                    json.loads(data)
        finally:
            await upstream.aclose()
        return None

    return call


async def measure(base_url: str, calls: int) -> list[tuple[str, float]]:
    async with clients(base_url) as opened:
        rows = plain_calls(base_url, opened) + streamed_calls(base_url, opened)
        return await cpu_per_call(rows, calls)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sdk_floor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--calls", type=int, default=3000, help="calls per batch (3000)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("build") / "bench")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.client_cpu})
    upstream = fake_upstream(args.out, args.server_cpu, chunk_delay=0.0, chunks=STREAM_CHUNKS)
    upstream.start()
    try:
        results = asyncio.run(measure(upstream.base_url, args.calls))
    finally:
        upstream.stop()
    print("| call | CPU per call |\n|---|---|")
    for name, micros in results:
        print(f"| {name} | {micros:,.0f} us |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
