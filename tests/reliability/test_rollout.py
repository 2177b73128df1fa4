"""A rolling update under load loses no request: two ``python -m app`` behind real nginx, one of
them drained (SIGTERM) and replaced by a new one while 1,000 requests, two thirds of them
streams, run through the proxy.

The steps are a Deployment's rolling update as Kubernetes runs it (``maxSurge`` 1,
``maxUnavailable`` 0): the new server starts and becomes ready, the proxy's upstreams change
(the old server out, the new one in: an endpoint change, here an nginx reload whose old workers
finish the requests they hold), and the old server gets SIGTERM with streams still running on it.
Every request must succeed with its full answer, and the old server must exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.app.conftest import bearer, make_token
from tests.mcp_clients._nginx import Nginx, nginx_binary, running_nginx
from tests.sse import parse_events

from ._process import ServerProcess, fake_upstreams, server_config, stream_slowly

REQUESTS = 1000
CONCURRENCY = 16
# The new server starts once this many requests are done; requests from GATE on wait until it is
# ready, so the rollout always happens with most of the load still to come.
START_NEW_AT = 100
GATE = 400
CHUNKS = [f"tok{i} " for i in range(10)]
FULL_TEXT = "".join(CHUNKS)
CHUNK_DELAY = 0.03
DRAIN_SECONDS, SHUTDOWN_TIMEOUT = 1.0, 15.0


@dataclass
class Load:
    done: int = 0
    failures: list[str] = field(default_factory=list)
    new_ready: asyncio.Event = field(default_factory=asyncio.Event)
    start_new: asyncio.Event = field(default_factory=asyncio.Event)


def _chat_text(events: list[tuple[str | None, str]]) -> str:
    assert events[-1] == (None, "[DONE]"), events[-3:]
    text = ""
    for _, data in events[:-1]:
        for choice in json.loads(data)["choices"]:
            text += choice["delta"].get("content") or ""
    return text


def _run_output(events: list[tuple[str | None, str]]) -> str:
    names = [name for name, _ in events]
    assert names[0] == "run.started", names
    assert names[-1] == "run.completed", names
    output: str = json.loads(events[-1][1])["output"]
    return output


async def _one(session: aiohttp.ClientSession, base: str, index: int) -> None:
    """One request, checked to the end: a chat completion stream, a native run stream, or a
    plain chat completion. Raises on any failure."""
    chat = {"model": "coding", "messages": [{"role": "user", "content": f"hi {index}"}]}
    url, body = {
        0: (f"{base}/v1/chat/completions", {**chat, "stream": True}),
        1: (f"{base}/v1/agents/coding/runs", {"input": f"hi {index}", "stream": True}),
        2: (f"{base}/v1/chat/completions", chat),
    }[index % 3]
    async with session.post(url, json=body, headers=bearer(make_token())) as response:
        text = await response.text()
        assert response.status == 200, f"{response.status}: {text[:300]}"
    if index % 3 == 2:
        assert json.loads(text)["choices"][0]["message"]["content"] == FULL_TEXT
        return
    events, rest = parse_events(text)
    assert not rest.strip(), rest[-200:]
    answer = _chat_text(events) if index % 3 == 0 else _run_output(events)
    assert answer == FULL_TEXT, answer


async def _worker(
    session: aiohttp.ClientSession, base: str, indices: Iterator[int], load: Load
) -> None:
    for index in indices:  # shared: each index is taken by exactly one worker
        if index >= GATE:
            await asyncio.wait_for(load.new_ready.wait(), timeout=120)
        try:
            await _one(session, base, index)
        except (AssertionError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            load.failures.append(f"request {index}: {type(exc).__name__}: {exc}")
        load.done += 1
        if load.done >= START_NEW_AT:
            load.start_new.set()


@dataclass
class Rollout:
    signalled_at: float = 0.0  # wall clock (nginx logs $msec)
    exit_code: int | None = None


async def _roll(
    old: ServerProcess,
    keep: ServerProcess,
    new_factory: Callable[[], ServerProcess],
    proxy: Nginx,
    load: Load,
) -> tuple[Rollout, ServerProcess]:
    """Start the new server, let the held-back load through, swap the proxy's upstreams while
    streams run on the old server, SIGTERM it and wait for its exit."""
    await asyncio.wait_for(load.start_new.wait(), timeout=120)
    new = await asyncio.to_thread(new_factory)
    await asyncio.to_thread(new.wait_ready, 60)
    load.new_ready.set()
    # Streams take CHUNK_DELAY * len(CHUNKS) (0.3 s): some are on the old server now.
    await asyncio.sleep(0.15)
    upstreams = [f"127.0.0.1:{server.port}" for server in (keep, new)]
    await asyncio.to_thread(proxy.reload, upstreams)
    rollout = Rollout(signalled_at=time.time())
    old.signal(signal.SIGTERM)
    rollout.exit_code = await asyncio.to_thread(old.wait, DRAIN_SECONDS + SHUTDOWN_TIMEOUT + 10)
    return rollout, new


@pytest.mark.slow
async def test_rolling_replacement_under_load_fails_no_request(tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    dirs = {name: tmp_path / name for name in ("fakes", "a", "b", "c", "nginx")}
    for directory in dirs.values():
        directory.mkdir()
    with contextlib.ExitStack() as stack:
        fakes = stack.enter_context(fake_upstreams(dirs["fakes"]))
        stream_slowly(fakes, CHUNKS, CHUNK_DELAY)
        config = server_config(
            fakes,
            server={"drain_seconds": DRAIN_SECONDS, "shutdown_timeout_seconds": SHUTDOWN_TIMEOUT},
        )
        servers: list[ServerProcess] = []

        def server(name: str) -> ServerProcess:
            process = ServerProcess(config, dirs[name])
            servers.append(process)
            return process

        def stop_servers() -> None:
            for process in servers:
                process.stop()

        stack.callback(stop_servers)
        old, keep = server("a"), server("b")
        old.wait_ready()
        keep.wait_ready()
        proxy = stack.enter_context(
            running_nginx(binary, dirs["nginx"], [f"127.0.0.1:{s.port}" for s in (old, keep)])
        )
        load = Load()
        indices = iter(range(REQUESTS))
        # A new connection per request: an nginx reload closes idle client keep-alive connections
        # (a proxy artifact Kubernetes' endpoint updates do not have; ingress-nginx applies them
        # without a reload), which would fail a request sent on one at that instant.
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            rolling = asyncio.create_task(_roll(old, keep, lambda: server("c"), proxy, load))
            workers = [_worker(session, proxy.url, indices, load) for _ in range(CONCURRENCY)]
            await asyncio.wait_for(asyncio.gather(*workers), timeout=600)
            rollout, new = await asyncio.wait_for(rolling, timeout=120)
        entries = [e for e in proxy.access_log() if e["uri"] != "/health/live"]

    assert load.done == REQUESTS
    assert load.failures == []
    assert rollout.exit_code == 0, old.output()
    served = {e["upstream"] for e in entries}
    addresses = {
        name: f"127.0.0.1:{s.port}" for name, s in zip("abc", (old, keep, new), strict=True)
    }
    assert set(addresses.values()) <= served
    assert all(e["status"] == "200" for e in entries), [e for e in entries if e["status"] != "200"]
    # The old server was drained, not idle: it finished requests after its SIGTERM; and the new
    # one took a share of the load after it.
    old_ends = [float(e["time"]) for e in entries if e["upstream"] == addresses["a"]]
    assert max(old_ends) > rollout.signalled_at
    new_ends = [float(e["time"]) for e in entries if e["upstream"] == addresses["c"]]
    assert len(new_ends) > REQUESTS // 10
