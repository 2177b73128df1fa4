"""Cancels relayed between replicas through a real redis-server (``rate_limit.backend: redis``).

Two app instances on loopback share one redis-server and nothing else: a call runs on one, its
``notifications/cancelled`` reaches the other (what round robin does).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from app.app_keys import METRICS_KEY
from app.mcp import MCP_KEY
from app.server import create_app
from tests.app.conftest import make_token
from tests.fakes import Behavior, FakeServer
from tests.redis_server import RedisServer

from .conftest import Server, ServerFactory, eventually, mcp_config
from .test_http import headers, read_message, request

HANDSHAKE = {"MCP-Protocol-Version": "2025-11-25"}


def shared_store(redis: RedisServer, **redis_settings: Any) -> dict[str, Any]:
    return {
        "rate_limit": {
            "enabled": True,
            "backend": "redis",
            "requests_per_minute": 100_000,
            "burst": 10_000,
            "redis": {"timeout_seconds": 0.5, "retry_interval_seconds": 0.2, **redis_settings},
        },
        "redis_url": redis.url,
        "redis_password": redis.password,
    }


async def two_replicas(
    start_server: ServerFactory, fake: FakeServer, redis: RedisServer
) -> tuple[Server, Server]:
    servers = []
    for _ in range(2):
        server = await start_server(mcp_config(fake, **shared_store(redis)))
        relay = server.app[MCP_KEY].relay
        assert relay is not None
        await asyncio.wait_for(relay.subscribed.wait(), 5)
        servers.append(server)
    return servers[0], servers[1]


def cancellations(server: Server, reason: str) -> float:
    registry = server.app[METRICS_KEY].registry
    value = registry.get_sample_value("agentsmcp_mcp_cancellations_total", {"reason": reason})
    return value or 0.0


def cancel(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": request_id, "reason": "user stopped it"},
    }


async def test_a_cancel_reaching_another_replica_stops_the_call(
    http: aiohttp.ClientSession,
    start_server: ServerFactory,
    fake: FakeServer,
    redis_server: RedisServer,
) -> None:
    running_on, other = await two_replicas(start_server, fake, redis_server)
    fake.openai.default = Behavior(chunks=("tok ",) * 200, chunk_delay=0.05)
    alice = make_token("alice")
    call = request("tools/call", {"name": "coding", "arguments": {"task": "long"}}, id=7)
    running = asyncio.create_task(
        http.post(running_on.mcp, json=call, headers=headers(alice, **HANDSHAKE))
    )
    await eventually(lambda: fake.openai.inflight > 0)
    async with http.post(
        other.mcp, json=cancel(7), headers=headers(alice, **HANDSHAKE)
    ) as response:
        assert response.status == 202
    cancelled_at = time.monotonic()
    disconnect = await fake.openai.wait_disconnect(within=1.0)
    assert disconnect.at - cancelled_at < 1.0
    assert disconnect.chunks_sent < 200
    async with await running as response:
        # An SSE answer to a cancelled request ends without a response (the specification).
        assert response.content_type == "text/event-stream"
        body = await response.text()
    assert '"result"' not in body
    assert cancellations(running_on, "relayed") == 1
    assert cancellations(other, "relayed") == 0
    assert cancellations(other, "notification") == 0


async def test_a_relayed_cancel_never_cancels_another_subjects_call(
    http: aiohttp.ClientSession,
    start_server: ServerFactory,
    fake: FakeServer,
    redis_server: RedisServer,
) -> None:
    running_on, other = await two_replicas(start_server, fake, redis_server)
    fake.openai.default = Behavior(chunks=("a",) * 8, chunk_delay=0.1)
    session = {"Mcp-Session-Id": "alice-session"}
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}}, id=5)
    running = asyncio.create_task(
        http.post(
            running_on.mcp, json=call, headers=headers(make_token("alice"), **HANDSHAKE, **session)
        )
    )
    await eventually(lambda: fake.openai.inflight > 0)
    attempts = [
        headers(make_token("mallory"), **HANDSHAKE, **session),  # another subject
        headers(make_token("alice"), **HANDSHAKE),  # the same subject, without the session
        headers(make_token("alice"), **HANDSHAKE, **{"Mcp-Session-Id": "other"}),
    ]
    for sent in attempts:
        async with http.post(other.mcp, json=cancel(5), headers=sent) as response:
            assert response.status == 202
    async with await running as response:
        message = await read_message(response)
    assert message["result"]["structuredContent"]["output"] == "aaaaaaaa"
    assert not fake.openai.disconnects
    assert cancellations(running_on, "relayed") == 0


async def test_store_down_a_cancel_is_accepted_at_once_and_relaying_resumes(
    http: aiohttp.ClientSession,
    start_server: ServerFactory,
    fake: FakeServer,
    redis_server: RedisServer,
) -> None:
    running_on, other = await two_replicas(start_server, fake, redis_server)
    alice = make_token("alice")
    redis_server.kill()
    fake.openai.default = Behavior(chunks=("b",) * 5, chunk_delay=0.1)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "hi"}}, id=9)
    running = asyncio.create_task(
        http.post(running_on.mcp, json=call, headers=headers(alice, **HANDSHAKE))
    )
    await eventually(lambda: fake.openai.inflight > 0)
    sent_at = time.monotonic()
    async with http.post(
        other.mcp, json=cancel(9), headers=headers(alice, **HANDSHAKE)
    ) as response:
        assert response.status == 202
        assert await response.read() == b""
    # Bounded by the store's timeout (0.5 s), not a hang.
    assert time.monotonic() - sent_at < 1.5
    async with await running as response:
        message = await read_message(response)
    assert message["result"]["isError"] is False, "the call itself is unaffected"
    for server in (running_on, other):
        async with http.get(server.url + "/health/ready") as response:
            assert response.status == 200

    # The store is back: both listeners subscribe again by themselves and relaying works.
    await asyncio.to_thread(redis_server.start)
    for server in (running_on, other):
        relay = server.app[MCP_KEY].relay
        assert relay is not None
        await eventually(relay.subscribed.is_set, within=10)
    fake.openai.default = Behavior(chunks=("tok ",) * 200, chunk_delay=0.05)
    call = request("tools/call", {"name": "coding", "arguments": {"task": "long"}}, id=10)
    running = asyncio.create_task(
        http.post(running_on.mcp, json=call, headers=headers(alice, **HANDSHAKE))
    )
    await eventually(lambda: fake.openai.inflight > 0)
    async with http.post(
        other.mcp, json=cancel(10), headers=headers(alice, **HANDSHAKE)
    ) as response:
        assert response.status == 202
    await fake.openai.wait_disconnect(within=1.0)
    async with await running:
        pass
    assert cancellations(running_on, "relayed") == 1


async def test_shutdown_does_not_wait_for_a_dead_store(
    fake: FakeServer, redis_server: RedisServer
) -> None:
    app = create_app(mcp_config(fake, **shared_store(redis_server)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    relay = app[MCP_KEY].relay
    assert relay is not None
    await asyncio.wait_for(relay.subscribed.wait(), 5)
    redis_server.kill()
    started = time.monotonic()
    await asyncio.wait_for(runner.cleanup(), 10)
    assert time.monotonic() - started < 3.0
    assert app[MCP_KEY].relay is None


async def test_without_a_shared_store_there_is_no_relay(server: Server) -> None:
    assert server.app[MCP_KEY].relay is None
