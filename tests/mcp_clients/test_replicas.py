"""Two server processes behind a round-robin nginx.

Two real ``python -m app`` processes share nothing but the fake upstreams; nginx alternates
requests between them. The official Python client (mcp 1.x, ``ClientSession``) initializes, lists
the tools and calls the agent (with progress over SSE through the proxy) in one session. The
proxy's access log shows which process served each JSON-RPC message, and each process's own
/metrics confirms it served MCP requests. mcp 2.x in the stateless 2026-07-28 era then runs the
official-client plan through the same proxy, its cancel (closing the call's stream) included.
Handshake-era cancels across the two need session affinity, or a shared redis-server through
which the processes relay them.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import bearer, make_token
from tests.redis_server import RedisServer, running_redis
from tests.reliability._process import (
    ServerProcess,
    fake_control,
    fake_upstreams,
    get,
    server_config,
)

from ._nginx import nginx_binary, running_nginx
from .conftest import AGENT, AGENTS, MCP_SETTINGS, client_command, run_client
from .test_official_clients import CLIENTS, PLAN

pytestmark = pytest.mark.slow

TEXT_CHUNKS = ["Round ", "robin ", "works", "."]
# Three of each in a row: with strict alternation (and the client's GET stream attempts in
# between), each method reaches both processes.
CALLS = 3


@contextlib.contextmanager
def two_servers(
    tmp_path: Path, fakes: str, redis: RedisServer | None = None
) -> Iterator[list[ServerProcess]]:
    """Two processes; with ``redis``, sharing it as the limits store (and so relaying cancels)."""
    sections: dict[str, Any] = {"agents": AGENTS, "mcp": MCP_SETTINGS}
    env: dict[str, str] = {}
    if redis is not None:
        sections["rate_limit"] = {
            "enabled": True,
            "backend": "redis",
            "requests_per_minute": 100_000,
            "burst": 10_000,
        }
        env = {"REDIS_URL": redis.url, "REDIS_PASSWORD": redis.password}
    config = server_config(fakes, **sections)
    servers: list[ServerProcess] = []
    try:
        for index in range(2):
            logs = tmp_path / f"server{index}"
            logs.mkdir()
            servers.append(ServerProcess(config, logs, env=env))
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def mcp_requests_served(server: ServerProcess) -> float:
    """POST /mcp requests this process answered, from its own /metrics (not via the proxy)."""
    status, body = get(f"{server.url}/metrics")
    assert status == 200
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("http_requests_total{") and 'route="/mcp"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def cancellations(server: ServerProcess) -> dict[str, float]:
    """``agentsmcp_mcp_cancellations_total`` by reason, from the process's own /metrics."""
    status, body = get(f"{server.url}/metrics")
    assert status == 200
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        if family.name == "agentsmcp_mcp_cancellations":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[sample.labels["reason"]] = sample.value
    return found


def rpc_method(entry: dict[str, Any]) -> str | None:
    if entry["method"] != "POST" or not entry["body"]:
        return None
    method = json.loads(entry["body"]).get("method")
    return str(method) if method is not None else "(response)"


async def test_a_session_alternating_between_two_processes_works(tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: run scripts/system-deps.sh")
    with (
        fake_upstreams(tmp_path, chunk_delay=0.0) as fakes,
        two_servers(tmp_path, fakes) as servers,
        running_nginx(
            binary, tmp_path / "nginx", [f"127.0.0.1:{s.port}" for s in servers]
        ) as proxy,
    ):
        fake_control(
            fakes, "PUT", "/_fake/openai/default", {"chunks": TEXT_CHUNKS, "chunk_delay": 0.3}
        )
        before = [mcp_requests_served(server) for server in servers]

        progress: list[list[float]] = [[] for _ in range(CALLS)]

        def on_progress(call: int) -> Any:
            async def record(value: float, total: float | None, message: str | None) -> None:
                progress[call].append(value)

            return record

        timeout = httpx.Timeout(30, read=300)
        async with (
            httpx.AsyncClient(headers=bearer(make_token()), timeout=timeout) as http,
            streamable_http_client(f"{proxy.url}/mcp", http_client=http) as (
                read,
                write,
                session_id,
            ),
            ClientSession(read, write, read_timeout_seconds=timedelta(seconds=60)) as session,
        ):
            init = await session.initialize()
            minted = session_id()
            listed = [(await session.list_tools()).tools for _ in range(CALLS)]
            results = [
                await session.call_tool(
                    AGENT, {"task": "Say it."}, progress_callback=on_progress(call)
                )
                for call in range(CALLS)
            ]

        assert init.serverInfo.name
        assert minted, "initialize minted an Mcp-Session-Id"
        # server_config adds the default agents to ours; "internal" is hidden from MCP.
        names = [sorted(tool.name for tool in tools) for tools in listed]
        assert all(listing == names[0] for listing in names)
        assert AGENT in names[0]
        assert "internal" not in names[0]
        for result in results:
            assert result.isError is False, result
            assert "Round robin works." in "".join(
                block.text for block in result.content if block.type == "text"
            )
        # Progress notifications streamed through the proxy, on both processes' calls.
        assert all(len(values) >= 2 for values in progress), progress

        entries = [e for e in proxy.access_log() if e["uri"] == "/mcp"]
        served_by: dict[str, set[str]] = {}
        for entry in entries:
            method = rpc_method(entry)
            if method is not None:
                served_by.setdefault(method, set()).add(entry["upstream"])
        assert {e["upstream"] for e in entries} == {f"127.0.0.1:{s.port}" for s in servers}, entries
        (initialized_on,) = served_by["initialize"]
        for method in ("tools/list", "tools/call"):
            assert served_by[method] - {initialized_on}, (
                f"{method} never reached the process that did not initialize: {entries}"
            )
        after_init = [e for e in entries if rpc_method(e) in ("tools/list", "tools/call")]
        assert all(e["session"] == minted and e["status"] == "200" for e in after_init), entries

        after = [mcp_requests_served(server) for server in servers]
        assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
        for server in servers:
            assert server.popen.poll() is None, server.output()


async def test_the_stateless_era_through_the_proxy(tmp_path: Path) -> None:
    """mcp 2.x in automatic mode (2026-07-28, no session at all) runs its whole plan through the
    proxy; its cancel closes the call's stream, which nginx passes on to the process running it."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: run scripts/system-deps.sh")
    with (
        fake_upstreams(tmp_path) as fakes,
        two_servers(tmp_path, fakes) as servers,
        running_nginx(
            binary, tmp_path / "nginx", [f"127.0.0.1:{s.port}" for s in servers]
        ) as proxy,
    ):
        plan = {
            **PLAN,
            "mode": "auto",
            "url": f"{proxy.url}/mcp",
            "token": make_token(),
            "fake_url": fakes,
        }
        run = await run_client(client_command("mcp2"), plan)
        report = run.report
        assert "error" not in report, f"{report}\n{run.stderr}"
        assert report["protocol_version"] == "2026-07-28"
        assert report["progress_call"]["is_error"] is False
        assert len(report["progress_call"]["progress"]) >= 2
        assert report["cancel"]["upstream_stopped_after_s"] < 1.0, report["cancel"]
        assert report["failure"]["is_error"] is True
        upstreams = {e["upstream"] for e in proxy.access_log() if e["uri"] == "/mcp"}
        assert upstreams == {f"127.0.0.1:{s.port}" for s in servers}
        for server in servers:
            assert server.popen.poll() is None, server.output()


@pytest.mark.parametrize("name", ["mcp2-legacy", "typescript"])
async def test_handshake_era_cancel_needs_session_affinity(name: str, tmp_path: Path) -> None:
    """Without a shared store: in the handshake era a cancel is a ``notifications/cancelled``
    POST, and only the process running the call can act on it; behind plain round robin it lands
    on the other one (with a shared store it is relayed: the next test). With
    nginx hashing on ``Mcp-Session-Id`` where there is one (what an Ingress can do; requests
    without one still spread) every request of the session after ``initialize`` reaches one
    process, and the whole plan passes, cancel included."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: run scripts/system-deps.sh")
    with (
        fake_upstreams(tmp_path) as fakes,
        two_servers(tmp_path, fakes) as servers,
        running_nginx(
            binary,
            tmp_path / "nginx",
            [f"127.0.0.1:{s.port}" for s in servers],
            session_affinity=True,
        ) as proxy,
    ):
        program, overrides, version = CLIENTS[name]
        plan = {
            **PLAN,
            **overrides,
            "url": f"{proxy.url}/mcp",
            "token": make_token(),
            "fake_url": fakes,
        }
        run = await run_client(client_command(program), plan)
        report = run.report
        assert "error" not in report, f"{report}\n{run.stderr}"
        assert report["protocol_version"] == version
        assert report["cancel"]["upstream_stopped_after_s"] < 1.0, report["cancel"]
        assert report["failure"]["is_error"] is True
        in_session = [
            e
            for e in proxy.access_log()
            if e["uri"] == "/mcp" and e["method"] == "POST" and e["session"]
        ]
        assert len({e["upstream"] for e in in_session}) == 1, in_session


@pytest.mark.parametrize("name", ["mcp2-legacy", "typescript"])
async def test_handshake_era_cancel_across_replicas_through_the_shared_store(
    name: str, tmp_path: Path
) -> None:
    """Plain round robin, no affinity: a ``notifications/cancelled`` that lands on the process
    not running the call is relayed through the shared store (a real redis-server, as the
    limits store), and the whole plan passes, cancel included (upstream stopped within 1 s)."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: run scripts/system-deps.sh")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run scripts/system-deps.sh")
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with (
        running_redis(redis_dir) as redis,
        fake_upstreams(tmp_path) as fakes,
        two_servers(tmp_path, fakes, redis) as servers,
        running_nginx(
            binary, tmp_path / "nginx", [f"127.0.0.1:{s.port}" for s in servers]
        ) as proxy,
    ):
        program, overrides, version = CLIENTS[name]
        plan = {
            **PLAN,
            **overrides,
            "url": f"{proxy.url}/mcp",
            "token": make_token(),
            "fake_url": fakes,
        }
        run = await run_client(client_command(program), plan)
        report = run.report
        assert "error" not in report, f"{report}\n{run.stderr}"
        assert report["protocol_version"] == version
        assert report["cancel"]["upstream_stopped_after_s"] < 1.0, report["cancel"]
        assert report["cancel"]["upstream_inflight"] == 0, report["cancel"]
        assert report["failure"]["is_error"] is True
        entries = [e for e in proxy.access_log() if e["uri"] == "/mcp"]
        assert {e["upstream"] for e in entries} == {f"127.0.0.1:{s.port}" for s in servers}
        # Exactly one cancel was executed, here or on the other process, by notification.
        counted = [cancellations(server) for server in servers]
        executed = sum(c.get("notification", 0) + c.get("relayed", 0) for c in counted)
        assert executed == 1, counted
        # Where the cancel POST and the call went: a relay iff they differ.
        calls = [e for e in entries if rpc_method(e) == "tools/call"]
        cancel = [e for e in entries if rpc_method(e) == "notifications/cancelled"]
        assert len(cancel) == 1, entries
        relayed = sum(c.get("relayed", 0) for c in counted)
        cancelled_id = json.loads(cancel[0]["body"])["params"]["requestId"]
        (cancelled_call,) = [e for e in calls if json.loads(e["body"])["id"] == cancelled_id]
        assert relayed == (cancel[0]["upstream"] != cancelled_call["upstream"]), (entries, counted)
        for server in servers:
            assert server.popen.poll() is None, server.output()
