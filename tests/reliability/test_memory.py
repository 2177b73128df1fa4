"""Per-client state stays bounded under 100,000 distinct subjects: rate-limit buckets (their
memory measured with tracemalloc), and through the running server the buckets, the
verified-token cache and the metrics series."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

import jwt
import pytest

from app.auth import CACHE_SIZE, TokenVerifier
from app.config import RateLimitSettings
from app.limits import Bucket, MemoryStore
from app.limits._store import MAX_ENTRIES as MAX_BUCKETS
from tests.app.conftest import AUDIENCE, ISSUER, SECRET, make_config

from .conftest import serve_app

SUBJECTS = 100_000
# A frozen clock for the limiter, so no bucket refills between hits.
NOW = 1000.0


class HeldMemory:
    """Bytes allocated from ``file`` and still alive, measured with tracemalloc."""

    def __init__(self, file: str) -> None:
        self._filter = tracemalloc.Filter(True, f"*{file}")

    def __enter__(self) -> HeldMemory:
        tracemalloc.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        tracemalloc.stop()

    def now(self) -> int:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces([self._filter])
        return sum(stat.size for stat in snapshot.statistics("filename"))


def test_rate_limit_buckets_are_bounded() -> None:
    settings = RateLimitSettings(requests_per_minute=600, burst=100)
    limiter, bucket = MemoryStore(), Bucket(settings.requests_per_minute, settings.burst)
    with HeldMemory("limits/_store.py") as held:
        # Twice the bound: the map is full and has evicted a full generation of buckets.
        for i in range(2 * MAX_BUCKETS):
            limiter.hit_now(f"sub:user-{i}", bucket, NOW)
        steady = held.now()
        for i in range(2 * MAX_BUCKETS, SUBJECTS):
            limiter.hit_now(f"sub:user-{i}", bucket, NOW)
        after_100k = held.now()
    assert len(limiter) == MAX_BUCKETS
    assert after_100k <= steady * 1.01, (steady, after_100k)
    assert after_100k < MAX_BUCKETS * 512, after_100k
    # Least recently used first out: the newest subject kept its bucket (second hit), the
    # oldest was evicted and starts again with a full one.
    assert limiter.hit_now(f"sub:user-{SUBJECTS - 1}", bucket, NOW).remaining == settings.burst - 2
    assert limiter.hit_now("sub:user-0", bucket, NOW).remaining == settings.burst - 1
    assert len(limiter) == MAX_BUCKETS


def _tokens(count: int) -> list[str]:
    exp = int(time.time()) + 3600
    return [
        jwt.encode(
            {"sub": f"user-{i}", "iss": ISSUER, "aud": AUDIENCE, "exp": exp}, SECRET, "HS256"
        )
        for i in range(count)
    ]


def _find(cls: type) -> list[object]:
    # The limiter and the verifier live in middleware closures; the GC can still see them.
    return [obj for obj in gc.get_objects() if isinstance(obj, cls)]


def _series(metrics_text: str) -> set[str]:
    return {
        line.rsplit(" ", 1)[0]
        for line in metrics_text.splitlines()
        if line and not line.startswith("#") and "_bucket{" not in line
    }


async def _pipelined(port: int, tokens: list[str], path: str = "/v1/models") -> list[int]:
    """Send one request per token on one keep-alive connection (pipelined); return statuses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses: list[int] = []
    try:
        batch = 500
        for start in range(0, len(tokens), batch):
            chunk = tokens[start : start + batch]
            requests = (
                f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
                for token in chunk
            )
            writer.write("".join(requests).encode())
            await writer.drain()
            for _ in chunk:
                status_line = await reader.readline()
                statuses.append(int(status_line.split()[1]))
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
    finally:
        writer.close()
    return statuses


@pytest.mark.slow
async def test_server_state_is_bounded_under_100k_subjects() -> None:
    tokens = await asyncio.to_thread(_tokens, SUBJECTS)
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 60, "burst": 5})
    async with serve_app(config) as server:
        first = await _pipelined(server.port, tokens[:20_000])
        await _metrics(server.port)  # its own series exist from here on
        metrics_before = _series(await _metrics(server.port))
        rest = await _pipelined(server.port, tokens[20_000:])
        metrics_after = _series(await _metrics(server.port))
        limiters = _find(MemoryStore)
        verifiers = _find(TokenVerifier)

    assert set(first + rest) == {200}
    assert len(first) + len(rest) == SUBJECTS
    assert limiters
    assert verifiers
    for limiter in limiters:
        assert isinstance(limiter, MemoryStore)
        assert len(limiter) <= MAX_BUCKETS
    for verifier in verifiers:
        assert isinstance(verifier, TokenVerifier)
        assert len(verifier._cache) <= CACHE_SIZE
    # Subjects are never metric labels: 80,000 more of them add no series.
    assert metrics_after == metrics_before


async def _metrics(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.partition(b"\r\n\r\n")[2].decode()
