"""Tracing to an OpenTelemetry collector that never answers (a listener that never accepts:
the kernel completes the exporter's connections, and its requests wait for the exporter's own
timeout, 10 s). It costs spans, not the shutdown's bound nor the server's memory."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from app.config import TRACE_FLUSH_SECONDS
from app.observability._queue import MAX_QUEUED_SPAN_BYTES
from tests.app.conftest import bearer, make_token

from ._process import ServerProcess, fake_upstreams, server_config

MIB = 1024 * 1024


@contextmanager
def traced_server(logs: Path, capture_content: bool = False) -> Iterator[ServerProcess]:
    """A server exporting every span to a collector that never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as collector:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.getsockname()[1]}",
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": str(capture_content).lower(),
        }
        with fake_upstreams(logs) as fakes:
            server = ServerProcess(server_config(fakes), logs, env=env)
            try:
                server.wait_ready()
                yield server
            finally:
                server.stop()


async def chat(session: aiohttp.ClientSession, server: ServerProcess, prompt: str) -> None:
    body = {"model": "coding", "messages": [{"role": "user", "content": prompt}]}
    url = f"{server.url}/v1/chat/completions"
    async with session.post(url, json=body, headers=bearer(make_token())) as response:
        assert response.status == 200, await response.text()


@pytest.mark.slow
async def test_the_shutdown_is_not_held(tmp_path: Path) -> None:
    with traced_server(tmp_path) as server:
        async with aiohttp.ClientSession() as session:
            for _ in range(5):
                await chat(session, server, "hi")
        signalled_at = time.monotonic()
        server.signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.wait, 30)
        exited_at = time.monotonic()

    output = server.output()
    assert exit_code == 0, output
    # No drain period and no request in flight: the span export's share and the exit.
    assert exited_at - signalled_at <= TRACE_FLUSH_SECONDS + 1.5, output
    assert "Spans not exported: the export did not finish within 2.0 s of shutdown" in output
    assert '"event": "server stopped"' in output


@pytest.mark.slow
async def test_captured_prompts_stay_within_the_queues_byte_budget(tmp_path: Path) -> None:
    # 300 prompts of 900 kB: about 0.9 MB of spans each, 270 MB had the queue been bounded
    # only by its 2,048 spans (it was: +297 MiB of RSS).
    prompt = "p" * 900_000
    with traced_server(tmp_path, capture_content=True) as server:
        before = server.rss_bytes()
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                await chat(session, server, prompt)
            grown = server.rss_bytes() - before
            metrics = await (await session.get(f"{server.url}/metrics")).text()
        output = server.output()

    # The budget, plus the prompts' buffers and the heap's fragments (about 45 MiB here).
    assert grown < MAX_QUEUED_SPAN_BYTES + 96 * MIB, f"RSS grew {grown / MIB:.0f} MiB"
    assert "Queue full, dropping spans" in output
    (dropped,) = re.findall(
        r'^agentsmcp_trace_spans_dropped_total\{reason="queue_full"\} (\S+)$', metrics, re.M
    )
    assert float(dropped) > 0
