"""Three ``python -m app`` processes sharing one real redis-server, as three replicas would:
limits hold across them, and a store that dies mid-load is handled by the failure policy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.app.conftest import bearer, make_token
from tests.fakes.appconfig import JWT_SECRET
from tests.redis_server import RedisServer
from tests.reliability._process import (
    ServerProcess,
    fake_control,
    fake_upstreams,
    server_config,
)

pytestmark = pytest.mark.slow

REPLICAS = 3
MESSAGES = [{"role": "user", "content": "Write a haiku."}]
assert JWT_SECRET  # the servers and make_token share the test secret


@contextlib.contextmanager
def cluster(
    tmp_path: Path, redis: RedisServer, rate_limit: dict[str, Any], *, chunk_delay: float = 0.0
) -> Iterator[tuple[str, list[ServerProcess]]]:
    with fake_upstreams(tmp_path, chunk_delay=chunk_delay) as fakes:
        config = server_config(
            fakes, rate_limit={"enabled": True, "backend": "redis", **rate_limit}
        )
        env = {"REDIS_URL": redis.url, "REDIS_PASSWORD": redis.password}
        servers = []
        try:
            for index in range(REPLICAS):
                logs = tmp_path / f"server-{index}"
                logs.mkdir()
                servers.append(ServerProcess(config, logs, env=env))
            for server in servers:
                server.wait_ready()
            yield fakes, servers
        finally:
            for server in servers:
                server.stop()
        for server in servers:
            assert "Traceback" not in server.output(), server.output()


async def test_a_subjects_request_limit_holds_across_three_servers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # 10 at once, refilled at 6 per minute (one per 10 s): the burst is the whole allowance.
    # A generous store timeout: this is about a healthy store on a busy two-core machine.
    limits = {"requests_per_minute": 6, "burst": 10, "redis": {"timeout_seconds": 2}}
    with cluster(tmp_path, redis_server, limits) as (_, servers):
        headers = bearer(make_token("alice"))
        async with aiohttp.ClientSession() as session:

            async def one(index: int) -> int:
                url = servers[index % REPLICAS].url + "/v1/models"
                async with session.get(url, headers=headers) as response:
                    return response.status

            statuses = await asyncio.gather(*(one(index) for index in range(45)))
            bob = servers[1].url + "/v1/models"
            async with session.get(bob, headers=bearer(make_token("bob"))) as response:
                bob_status = response.status
    assert set(statuses) <= {200, 429}
    # Within one request of the configured allowance, though each server alone would allow 10.
    assert 10 <= statuses.count(200) <= 11, statuses
    assert bob_status == 200


async def test_token_budgets_hold_across_three_servers_under_concurrent_streams(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    budget = 2000
    per_run = 11 + 200  # the fake's prompt tokens + completion tokens of each run
    with cluster(
        tmp_path,
        redis_server,
        {"tokens_per_minute": budget, "redis": {"timeout_seconds": 2}},
        chunk_delay=0.05,
    ) as (fakes, servers):
        default = {"completion_tokens": 200, "chunk_delay": 0.05}
        fake_control(fakes, "PUT", "/_fake/openai/default", [default])
        headers = bearer(make_token("alice"))
        used: list[int] = []
        statuses: list[int] = []
        # The whole test inside one minute window of the budget.
        if time.time() % 60 > 40:
            await asyncio.sleep(61 - time.time() % 60)
        window = int(time.time()) // 60
        async with aiohttp.ClientSession() as session:

            async def stream(index: int) -> None:
                url = servers[index % REPLICAS].url + "/v1/chat/completions"
                body = {
                    "model": "coding",
                    "messages": MESSAGES,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                }
                async with session.post(url, json=body, headers=headers) as response:
                    statuses.append(response.status)
                    text = await response.text()
                if response.status == 200:
                    events = [
                        json.loads(line[6:])
                        for line in text.splitlines()
                        if line.startswith("data: {")
                    ]
                    used.append(events[-1]["usage"]["total_tokens"])

            for _ in range(5):  # waves of 12 concurrent streams, 4 per server
                await asyncio.gather(*(stream(index) for index in range(12)))
    assert set(statuses) <= {200, 429}
    assert all(tokens == per_run for tokens in used)
    total = sum(used)
    # Every admitted run saw the others' reservations: at most one run past the budget.
    assert total <= budget + per_run, (total, statuses)
    # ...and the budget was really spent, not refused too early.
    assert total >= budget - per_run, (total, statuses)
    assert int(time.time()) // 60 == window
    counted = redis_server.command("GET", f"agentsmcp:tk:sub:alice:60:{window}")
    # Charged exactly what the providers reported (settled reservations leave no residue).
    assert int(counted) == total


async def _load(
    servers: list[ServerProcess], seconds: float, events: list[tuple[float, int, float]]
) -> None:
    """Six clients sending non-streamed runs for ``seconds``; records (start, status, duration)."""
    deadline = time.monotonic() + seconds
    headers = bearer(make_token("alice"))
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def client(index: int) -> None:
            url = servers[index % REPLICAS].url + "/v1/chat/completions"
            body = {"model": "coding", "messages": MESSAGES}
            while time.monotonic() < deadline:
                started = time.monotonic()
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                    events.append((started, response.status, time.monotonic() - started))

        await asyncio.gather(*(client(index) for index in range(6)))


async def _ready_statuses(servers: list[ServerProcess]) -> list[int]:
    async with aiohttp.ClientSession() as session:
        statuses = []
        for server in servers:
            async with session.get(server.url + "/health/ready") as response:
                statuses.append(response.status)
        return statuses


async def _metric(server: ServerProcess, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(server.url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


@pytest.mark.parametrize("policy", ["open", "closed"])
async def test_store_killed_mid_load_then_restarted(
    tmp_path: Path, redis_server: RedisServer, policy: str
) -> None:
    limits = {
        "requests_per_minute": 600_000,
        "burst": 100_000,
        "on_store_failure": policy,
        "redis": {"timeout_seconds": 0.1, "retry_interval_seconds": 0.5},
    }
    with cluster(tmp_path, redis_server, limits) as (_, servers):
        events: list[tuple[float, int, float]] = []
        load = asyncio.create_task(_load(servers, 5.0, events))
        await asyncio.sleep(1.0)
        killed_at = time.monotonic()
        redis_server.kill()
        await asyncio.sleep(1.0)
        ready_during_outage = await _ready_statuses(servers)
        up_during_outage = [
            await _metric(server, "agentsmcp_ratelimit_store_up") for server in servers
        ]
        await asyncio.to_thread(redis_server.start)
        restarted_at = time.monotonic()
        await load
        await asyncio.sleep(1.0)
        up_after = [await _metric(server, "agentsmcp_ratelimit_store_up") for server in servers]
        # Counted by the restarted server itself: scripts it ran for our requests.
        stats = redis_server.command("INFO", "commandstats")
    statuses = {status for _, status, _ in events}
    during = [e for e in events if killed_at + 0.2 < e[0] < restarted_at]
    after = [e for e in events if e[0] > restarted_at + 1.0]
    assert 500 not in statuses
    # No request waited on the dead store: none came near its client timeout.
    assert max(duration for _, _, duration in events) < 2.0
    assert ready_during_outage == [200] * REPLICAS
    assert up_during_outage == [0.0] * REPLICAS
    assert up_after == [1.0] * REPLICAS
    assert during
    if policy == "open":
        assert {status for _, status, _ in during} == {200}
    else:
        assert {status for _, status, _ in during} == {503}
        assert max(duration for _, _, duration in during) < 0.5
    # The shared limits resumed: requests after the restart are counted in the new store.
    assert after
    assert {status for _, status, _ in after} == {200}
    evalsha = next(line for line in stats.splitlines() if line.startswith("cmdstat_evalsha:"))
    assert int(evalsha.split("calls=")[1].split(",")[0]) >= len(after)
