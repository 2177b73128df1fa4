"""Compare the SDKs' default httpx2 transport with their aiohttp transport (``[aiohttp]`` extra).

Runs the official ``openai`` and ``anthropic`` clients against the fake upstreams on loopback
(``tests.fakes``), non-streaming and streaming, sequentially and with concurrency, and prints
p50/p99 latency per transport. The server uses whichever transport is faster here.

    .venv/bin/python -m bench.transport_compare [--requests 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import httpx2
import openai

from tests.fakes import FakeServer

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def _http_client(transport: str) -> httpx2.AsyncClient:
    if transport == "aiohttp":
        return openai.DefaultAioHttpClient()
    return openai.DefaultAsyncHttpxClient()


async def _measure(
    call: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    for _ in range(20):  # warm up connections
        await call()
    await asyncio.gather(*(one() for _ in range(requests)))
    return latencies


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"


async def _run_transport(fake: FakeServer, transport: str, requests: int, concurrency: int) -> None:
    oai = openai.AsyncOpenAI(
        api_key="sk-bench", base_url=fake.openai_url, http_client=_http_client(transport)
    )
    ant = anthropic.AsyncAnthropic(
        api_key="sk-ant-bench",
        base_url=fake.anthropic_url,
        http_client=_http_client(transport),
        open_telemetry=False,
    )

    async def openai_plain() -> None:
        await oai.chat.completions.create(model="m", messages=MESSAGES, stream=False)

    async def openai_stream() -> None:
        stream = await oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            pass

    async def anthropic_plain() -> None:
        await ant.messages.create(model="m", max_tokens=16, messages=MESSAGES, stream=False)

    async def anthropic_stream() -> None:
        stream = await ant.messages.create(model="m", max_tokens=16, messages=MESSAGES, stream=True)
        async for _ in stream:
            pass

    cases = {
        "openai": openai_plain,
        "openai stream": openai_stream,
        "anthropic": anthropic_plain,
        "anthropic stream": anthropic_stream,
    }
    try:
        for name, call in cases.items():
            for conc in (1, concurrency):
                latencies = await _measure(call, requests, conc)
                print(f"{transport:8} {name:17} c={conc:<3} {_summary(latencies)}", flush=True)
    finally:
        await oai.close()
        await ant.close()


async def main(requests: int, concurrency: int) -> None:
    async with FakeServer() as fake:
        for transport in ("httpx", "aiohttp"):
            await _run_transport(fake, transport, requests, concurrency)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))
