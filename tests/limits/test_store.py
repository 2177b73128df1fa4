"""The Redis store and its failure policy against a real redis-server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from app.limits import (
    Bucket,
    Budget,
    Decision,
    FailoverStore,
    MemoryStore,
    Reservation,
    StoreUnavailableError,
)
from app.limits._metrics import LimitMetrics
from app.limits._redis import RedisStore, connect
from tests.redis_server import RedisServer

# Short enough to keep the hung-store test quick, long enough for a loaded CI machine.
TIMEOUT = 0.5


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    client = connect(redis_server.url, redis_server.password, TIMEOUT)
    yield RedisStore(client, "test:")
    await client.aclose()


def failover(
    redis_server: RedisServer, policy: str, *, password: str | None = None
) -> tuple[FailoverStore, CollectorRegistry]:
    registry = CollectorRegistry()
    client = connect(redis_server.url, password or redis_server.password, TIMEOUT)
    store = FailoverStore(
        RedisStore(client, "test:"),
        MemoryStore(),
        policy=policy,  # type: ignore[arg-type]
        timeout=TIMEOUT,
        retry_interval=1.0,
        metrics=LimitMetrics(registry, ["coding"]),
    )
    return store, registry


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_bucket_takes_burst_then_refuses_with_retry_after(store: RedisStore) -> None:
    bucket = Bucket(per_minute=60, burst=3)
    remaining = [(await store.hit("sub:alice", bucket)).remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    denied = await store.hit("sub:alice", bucket)
    assert not denied.allowed
    assert denied.retry_after_seconds == 1
    assert denied.headers()["RateLimit-Policy"] == '3;w=3;name="requests"'
    assert (await store.hit("sub:bob", bucket)).allowed
    await asyncio.sleep(1.05)
    assert (await store.hit("sub:alice", bucket)).allowed


async def test_bucket_keys_expire_once_full_again(
    store: RedisStore, redis_server: RedisServer
) -> None:
    await store.hit("sub:alice", Bucket(per_minute=600, burst=100))
    ttl_ms = int(redis_server.command("PTTL", "test:rq:sub:alice"))
    # One token refills in 100 ms; the key lives that long plus a second of slack.
    assert 0 < ttl_ms <= 1100


async def test_budgets_refuse_once_spent_and_name_the_budget(
    store: RedisStore, redis_server: RedisServer
) -> None:
    minute = Budget("sub:alice", "tokens-per-minute", 100, 60)
    day = Budget("sub:alice", "tokens-per-day", 1000, 86_400)
    reservation = await store.reserve([minute, day], 0)
    assert isinstance(reservation, Reservation)
    await store.charge([minute, day], 99)
    assert isinstance(await store.reserve([minute, day], 0), Reservation)
    await store.charge([minute, day], 5)
    refused = await store.reserve([minute, day], 0)
    assert isinstance(refused, Decision)
    assert refused.name == "tokens-per-minute"
    assert refused.limit == 100
    assert 1 <= refused.retry_after_seconds <= 60
    window = int(time.time()) // 86_400
    assert redis_server.command("GET", f"test:tk:sub:alice:86400:{window}") == "104"
    await store.charge([day], 900)
    refused = await store.reserve([day], 0)
    assert isinstance(refused, Decision)
    assert refused.name == "tokens-per-day"
    assert refused.headers()["Retry-After"] == str(refused.retry_after_seconds)


async def test_reservations_hold_tokens_until_settled(
    store: RedisStore, redis_server: RedisServer
) -> None:
    minute = Budget("sub:alice", "tokens-per-minute", 100, 60)
    first = await store.reserve([minute], 80)
    assert isinstance(first, Reservation)
    # A concurrent run sees the first one's reservation: 80 < 100, still admitted.
    second = await store.reserve([minute], 80)
    assert isinstance(second, Reservation)
    # 160 set aside: a third is refused before either has reported anything.
    assert isinstance(await store.reserve([minute], 80), Decision)
    # Each settles what it did not use (80 reserved, 15 used) in its own window.
    await store.charge([minute], -65, first)
    await store.charge([minute], -65, second)
    key = f"test:tk:sub:alice:60:{first.windows[0]}"
    assert redis_server.command("GET", key) == "30"
    # Giving back to a window that is gone creates nothing.
    await store.charge([minute], -10, Reservation(10, (first.windows[0] - 5,)))
    assert redis_server.command("EXISTS", f"test:tk:sub:alice:60:{first.windows[0] - 5}") == "0"


async def test_scripts_are_reloaded_after_a_restart(
    store: RedisStore, redis_server: RedisServer
) -> None:
    bucket = Bucket(per_minute=60, burst=5)
    assert (await store.hit("sub:alice", bucket)).remaining == 4
    redis_server.restart()
    # A new server has no scripts and no counters; the store reconnects and loads them again
    # by itself, within the same call.
    assert (await store.hit("sub:alice", bucket)).remaining == 4


async def test_fail_open_falls_back_and_recovers_without_restart(
    redis_server: RedisServer,
) -> None:
    store, registry = failover(redis_server, "open")
    bucket = Bucket(per_minute=60, burst=2)
    assert (await store.hit("sub:alice", bucket)).remaining == 1
    redis_server.kill()
    started = time.perf_counter()
    # The in-process limits take over: a fresh local bucket, still enforced.
    assert (await store.hit("sub:alice", bucket)).remaining == 1
    assert (await store.hit("sub:alice", bucket)).remaining == 0
    assert not (await store.hit("sub:alice", bucket)).allowed
    assert time.perf_counter() - started < 1.0
    assert not store.up
    assert sample(registry, "agentsmcp_ratelimit_store_up") == 0
    # Three failures in a row open the circuit: one fallback activation.
    assert sample(registry, "agentsmcp_ratelimit_store_fallbacks_total") == 1
    assert sample(registry, "agentsmcp_ratelimit_store_errors_total", operation="hit") == 3
    assert sample(registry, "agentsmcp_ratelimit_degraded_total", policy="open") == 3
    redis_server.start()
    await store.probe()
    assert store.up
    assert sample(registry, "agentsmcp_ratelimit_store_up") == 1
    # Shared again: the restarted store starts with a full bucket of its own.
    assert (await store.hit("sub:alice", bucket)).remaining == 1
    await store.aclose()


async def test_fail_closed_refuses_quickly_with_503(redis_server: RedisServer) -> None:
    store, registry = failover(redis_server, "closed")
    bucket = Bucket(per_minute=60, burst=2)
    assert (await store.hit("sub:alice", bucket)).allowed
    redis_server.kill()
    for _ in range(3):
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError) as caught:
            await store.hit("sub:alice", bucket)
        assert time.perf_counter() - started < 0.5
        assert caught.value.status == 503
        assert caught.value.headers["Retry-After"] == "1"
    # Usage that already happened is never refused: it is kept locally instead.
    await store.charge([Budget("sub:alice", "tokens-per-minute", 10, 60)], 5)
    assert sample(registry, "agentsmcp_ratelimit_store_errors_total", operation="charge") == 0
    assert sample(registry, "agentsmcp_ratelimit_degraded_total", policy="closed") == 4
    await store.aclose()


async def test_a_hung_store_costs_three_timeouts_then_the_retry_interval(
    redis_server: RedisServer,
) -> None:
    store, registry = failover(redis_server, "closed")
    bucket = Bucket(per_minute=60, burst=100)
    assert (await store.hit("sub:alice", bucket)).allowed
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            started = time.perf_counter()
            with pytest.raises(StoreUnavailableError):
                await store.hit("sub:alice", bucket)
            assert time.perf_counter() - started < TIMEOUT + 0.2
        assert not store.up
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError):
            await store.hit("sub:alice", bucket)
        # Within the retry interval nobody waits on the hung store.
        assert time.perf_counter() - started < 0.01
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    await asyncio.sleep(1.05)
    assert (await store.hit("sub:alice", bucket)).allowed
    assert store.up
    assert sample(registry, "agentsmcp_ratelimit_store_errors_total", operation="hit") == 3
    await store.aclose()


async def test_a_wrong_password_is_a_store_failure(redis_server: RedisServer) -> None:
    store, registry = failover(redis_server, "open", password="wrong-password")
    bucket = Bucket(per_minute=60, burst=5)
    for _ in range(3):
        assert (await store.hit("sub:alice", bucket)).allowed
    assert not store.up
    assert sample(registry, "agentsmcp_ratelimit_store_errors_total", operation="hit") == 3
    await store.aclose()
