"""Compare the SDKs' default httpx2 transport with their aiohttp transport (``[aiohttp]`` extra).

Runs the official ``openai`` and ``anthropic`` clients against the fake upstreams on loopback
(``tests.fakes``), non-streaming and streaming, sequentially and with concurrency, and prints
p50/p99 latency per transport. The server uses whichever transport is faster here.

    .venv/bin/python -m bench.transport_compare [--requests 200] [--concurrency 16] [--rounds 5]
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


class _Clients:
    """An OpenAI and an Anthropic client on one transport, and the four calls measured."""

    def __init__(self, fake: FakeServer, transport: str) -> None:
        self.openai = openai.AsyncOpenAI(
            api_key="sk-bench", base_url=fake.openai_url, http_client=_http_client(transport)
        )
        self.anthropic = anthropic.AsyncAnthropic(
            api_key="sk-ant-bench",
            base_url=fake.anthropic_url,
            http_client=_http_client(transport),
            open_telemetry=False,
        )
        self.cases: dict[str, Callable[[], Awaitable[None]]] = {
            "openai": self.openai_plain,
            "openai stream": self.openai_stream,
            "anthropic": self.anthropic_plain,
            "anthropic stream": self.anthropic_stream,
        }

    async def openai_plain(self) -> None:
        await self.openai.chat.completions.create(model="m", messages=MESSAGES, stream=False)

    async def openai_stream(self) -> None:
        stream = await self.openai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        )
        async for _ in stream:
            pass

    async def anthropic_plain(self) -> None:
        await self.anthropic.messages.create(
            model="m", max_tokens=16, messages=MESSAGES, stream=False
        )

    async def anthropic_stream(self) -> None:
        stream = await self.anthropic.messages.create(
            model="m", max_tokens=16, messages=MESSAGES, stream=True
        )
        async for _ in stream:
            pass

    async def close(self) -> None:
        await self.openai.close()
        await self.anthropic.close()


async def main(requests: int, concurrency: int, rounds: int) -> None:
    """Transports alternate round by round, so drifting machine load hits both alike; the
    result per case is the median over rounds of each round's p50 and p99."""
    async with FakeServer() as fake:
        clients = {name: _Clients(fake, name) for name in ("httpx", "aiohttp")}
        try:
            for case in clients["httpx"].cases:
                for conc in (1, concurrency):
                    p50s: dict[str, list[float]] = {name: [] for name in clients}
                    p99s: dict[str, list[float]] = {name: [] for name in clients}
                    for _ in range(rounds):
                        for name, pair in clients.items():
                            latencies = sorted(await _measure(pair.cases[case], requests, conc))
                            p50s[name].append(statistics.median(latencies))
                            p99s[name].append(latencies[int(len(latencies) * 0.99) - 1])
                    for name in clients:
                        p50 = statistics.median(p50s[name]) * 1000
                        p99 = statistics.median(p99s[name]) * 1000
                        print(
                            f"{name:8} {case:17} c={conc:<3} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms",
                            flush=True,
                        )
        finally:
            for pair in clients.values():
                await pair.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.rounds))
