"""Graceful shutdown of the real image: SIGTERM (what the kubelet sends) during a streamed agent
call served by a fake OpenAI upstream on the host's loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import openai
import pytest

from tests.fakes import Behavior, FakeServer
from tools.issue_token import issue_token

from .conftest import JWT_SECRET, RunningServer, ServerFactory

pytestmark = pytest.mark.container

DRAIN_SECONDS = 1.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
CHUNKS = tuple(f"part-{index} " for index in range(8))
CHUNK_DELAY_SECONDS = 0.5  # the whole answer takes 4 s: longer than the drain period


@pytest.fixture
def fake_upstream() -> Iterator[FakeServer]:
    """The fake OpenAI/Anthropic server on 127.0.0.1, on an event loop in its own thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-upstream", daemon=True)
    thread.start()
    server = FakeServer()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def readiness_after_signal(server: RunningServer, until: float) -> int | None:
    """The first non-200 readiness status before ``until``: the signal is handled asynchronously."""
    while time.monotonic() < until:
        try:
            status, _ = server.get("/health/ready", timeout=1)
        except OSError:
            return None
        if status != 200:
            return status
        time.sleep(0.05)
    return None


def test_sigterm_lets_the_inflight_stream_finish_then_exits_zero(
    start_server: ServerFactory, fake_upstream: FakeServer
) -> None:
    fake_upstream.openai.script(Behavior(chunks=CHUNKS, chunk_delay=CHUNK_DELAY_SECONDS))
    server = start_server(
        upstream_port=fake_upstream.port,
        drain_seconds=DRAIN_SECONDS,
        shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_SECONDS,
    )
    token = issue_token(
        secret=JWT_SECRET,
        subject="container-test",
        issuer="agentsmcp",
        audience="agentsmcp-api",
        ttl=300,
    )
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=token, max_retries=0)
    stream = client.chat.completions.create(
        model="coding", messages=[{"role": "user", "content": "Count to eight."}], stream=True
    )
    pieces: list[str] = []
    finish_reasons: list[str] = []
    chunks = iter(stream)
    while not pieces:  # the request is in flight once the first text arrives
        chunk = next(chunks)
        pieces += [choice.delta.content or "" for choice in chunk.choices]

    server.container.kill(signal="SIGTERM")
    signalled = time.monotonic()
    # Draining: readiness turns 503 so the load balancer stops sending new requests.
    assert readiness_after_signal(server, until=signalled + DRAIN_SECONDS) == 503
    for chunk in chunks:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)
    result = server.container.wait(timeout=DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 30)
    elapsed = time.monotonic() - signalled
    logs = server.container.logs().decode(errors="replace")

    assert "".join(pieces) == "".join(CHUNKS), logs
    assert finish_reasons == ["stop"], logs
    assert list(fake_upstream.openai.disconnects) == [], logs
    assert result["StatusCode"] == 0, logs
    assert elapsed <= DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS, f"exited after {elapsed:.1f}s"
    assert "shutdown requested" in logs
