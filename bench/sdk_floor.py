"""The CPU floor of one upstream call: a bare aiohttp session against the official SDKs.

Starts the fake upstream (tests.fakes) on one CPU, pins itself to another, and makes the same
non-streaming call back to back in several ways, reporting CPU time per call (best of 3 batches,
startup objects frozen out of the GC so collections do not blur the numbers). The server cannot
cost less per request than its SDK call, so this bounds what any server-side fix can reach.
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import anthropic
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

Call = Callable[[], Awaitable[object]]


async def cpu_per_call(call: Call, calls: int) -> float:
    for _ in range(WARMUP_CALLS):
        await call()
    gc.collect()
    gc.freeze()
    best = float("inf")
    for _ in range(BATCHES):
        started = time.process_time()
        for _ in range(calls):
            await call()
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


async def measure(base_url: str, calls: int) -> list[tuple[str, float]]:
    openai_body = {
        "model": OPENAI_MODEL,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, *MESSAGES],
        "max_completion_tokens": 256,
    }
    anthropic_body = {
        "model": ANTHROPIC_MODEL,
        "system": SYSTEM_PROMPT,
        "messages": MESSAGES,
        "max_tokens": 256,
    }
    results: list[tuple[str, float]] = []
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {OPENAI_KEY}"}

        async def bare_aiohttp() -> object:
            payload = json.dumps(openai_body).encode()
            url = f"{base_url}/v1/chat/completions"
            async with session.post(url, data=payload, headers=headers) as response:
                return json.loads(await response.read())

        results.append(
            (
                "aiohttp ClientSession.post + json (the minimal proxy's way)",
                await cpu_per_call(bare_aiohttp, calls),
            )
        )
    openai_client = openai.AsyncOpenAI(
        api_key=OPENAI_KEY, base_url=f"{base_url}/v1", http_client=openai.DefaultAioHttpClient()
    )
    anthropic_client = anthropic.AsyncAnthropic(
        api_key=ANTHROPIC_KEY, base_url=base_url, http_client=anthropic.DefaultAioHttpClient()
    )
    our_openai = OurOpenAI(
        api_key=OPENAI_KEY, base_url=f"{base_url}/v1", http_client=openai.DefaultAioHttpClient()
    )
    our_anthropic = OurAnthropic(
        api_key=ANTHROPIC_KEY,
        base_url=base_url,
        http_client=anthropic.DefaultAioHttpClient(),
        open_telemetry=False,
    )
    try:

        async def openai_post() -> object:
            return await openai_client.post("/chat/completions", body=openai_body, cast_to=object)

        async def openai_create() -> object:
            return await openai_client.chat.completions.create(
                model=OPENAI_MODEL,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, *MESSAGES],  # type: ignore[list-item]
                max_completion_tokens=256,
            )

        async def anthropic_post() -> object:
            return await anthropic_client.post("/v1/messages", body=anthropic_body, cast_to=object)

        async def our_openai_post() -> object:
            return await our_openai.post_json("/chat/completions", openai_body)

        async def our_anthropic_post() -> object:
            return await our_anthropic.post_json("/v1/messages", anthropic_body)

        results.append(
            (
                "openai SDK client.post(cast_to=object), aiohttp transport",
                await cpu_per_call(openai_post, calls),
            )
        )
        results.append(
            (
                "openai SDK chat.completions.create(), aiohttp transport",
                await cpu_per_call(openai_create, calls),
            )
        )
        results.append(
            (
                "anthropic SDK client.post(cast_to=object), aiohttp transport",
                await cpu_per_call(anthropic_post, calls),
            )
        )
        results.append(
            (
                "our openai client (app/providers, requests from templates).post_json",
                await cpu_per_call(our_openai_post, calls),
            )
        )
        results.append(
            (
                "our anthropic client (app/providers, requests from templates).post_json",
                await cpu_per_call(our_anthropic_post, calls),
            )
        )
        results += await streamed(base_url, openai_client, our_openai, openai_body, calls)
    finally:
        for client in (openai_client, anthropic_client, our_openai, our_anthropic):
            await client.close()
    return results


async def streamed(
    base_url: str,
    client: openai.AsyncOpenAI,
    ours: OurOpenAI,
    body: dict[str, object],
    calls: int,
) -> list[tuple[str, float]]:
    """One streamed completion, read to its end, four ways."""
    stream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    payload = json.dumps(stream_body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {OPENAI_KEY}"}

    async def sdk_stream() -> openai.AsyncStream[object]:
        return await client.post(
            "/chat/completions",
            body=stream_body,
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )

    async def our_client_stream() -> openai.AsyncStream[object]:
        stream: openai.AsyncStream[object] = await ours.post_json(
            "/chat/completions", stream_body, stream_cls=openai.AsyncStream[object]
        )
        return stream

    def with_our_decoder(start: Callable[[], Awaitable[openai.AsyncStream[object]]]) -> Call:
        async def call() -> object:
            upstream = await start()
            try:
                async for _, data in server_sent_events(upstream.response.aiter_bytes()):
                    if not data.startswith("[DONE]"):
                        json.loads(data)
            finally:
                await upstream.close()
            return None

        return call

    async def sdk_stream_class() -> object:
        upstream = await sdk_stream()
        async for _ in upstream:
            pass
        return None

    measured = []
    async with aiohttp.ClientSession() as session:
        bare = _bare(session, base_url, payload, headers)
        measured.append(
            (
                "streamed: aiohttp ClientSession.post, bytes to the end",
                await cpu_per_call(bare, calls),
            )
        )
    measured.append(
        (
            "streamed: openai SDK client.post(stream=True) + our decoder (app/providers/_sse.py)",
            await cpu_per_call(with_our_decoder(sdk_stream), calls),
        )
    )
    measured.append(
        (
            "streamed: our openai client post_json(stream) + our decoder (what app/providers does)",
            await cpu_per_call(with_our_decoder(our_client_stream), calls),
        )
    )
    measured.append(
        (
            "streamed: openai SDK client.post(stream=True) + the SDK's AsyncStream",
            await cpu_per_call(sdk_stream_class, calls),
        )
    )
    return measured


def _bare(
    session: aiohttp.ClientSession, base_url: str, payload: bytes, headers: dict[str, str]
) -> Call:
    async def call() -> object:
        url = f"{base_url}/v1/chat/completions"
        async with session.post(url, data=payload, headers=headers) as response:
            async for _ in response.content.iter_any():
                pass
        return None

    return call


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
