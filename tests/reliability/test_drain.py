"""Drain under load: SIGTERM to ``python -m app`` while 50 streaming runs are mid-stream.

Within the shutdown timeout every stream finishes with its full content, readiness is 503 during
the drain window, new connections are refused after it and the process exits 0 in time. Past the
shutdown timeout the remaining streams end with a final error event, and the exit is still 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.config import STREAM_ABORT_GRACE_SECONDS
from tests.app.conftest import bearer, make_token
from tests.sse import parse_events

from ._process import (
    ServerProcess,
    fake_upstreams,
    running_server,
    server_config,
    stream_slowly,
)

STREAMS = 50
CHUNKS = [f"tok{i} " for i in range(20)]
FULL_TEXT = "".join(CHUNKS)


@dataclass
class StreamRecord:
    events: list[tuple[str | None, str]] = field(default_factory=list)
    first_delta: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float = 0.0


async def stream(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], record: StreamRecord
) -> StreamRecord:
    headers = {**bearer(make_token()), "Connection": "close"}
    async with session.post(url, json={**body, "stream": True}, headers=headers) as response:
        assert response.status == 200, await response.text()
        buffer = ""
        async for chunk in response.content.iter_any():
            events, buffer = parse_events(buffer + chunk.decode())
            record.events.extend(events)
            if any(name == "run.delta" or '"content":"tok' in data for name, data in events):
                record.first_delta.set()
    record.ended_at = time.monotonic()
    return record


@dataclass
class Probe:
    """What clients saw of the server while it shut down."""

    ready_503_at: float | None = None
    ready_503_body: dict[str, Any] | None = None
    refused_at: float | None = None
    answered_after_refused: bool = False


async def probe(port: int, result: Probe, stop: asyncio.Event) -> None:
    """New connection every 50 ms: readiness while it answers, then whether connects fail."""
    request = b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except (ConnectionRefusedError, ConnectionResetError):
            # Reset: the connect landed in the listen backlog as the server closed its listener;
            # it was never accepted, so it is refused as far as a client can tell.
            if result.refused_at is None:
                result.refused_at = time.monotonic()
        else:
            if result.refused_at is not None:
                result.answered_after_refused = True
            writer.write(request)
            # A connect accepted just as the listener closes may never be answered: the probe
            # must go on to see the refusals that follow, not wait for the process to exit.
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    reply = await reader.read()
                head, _, body = reply.partition(b"\r\n\r\n")
                if head.startswith(b"HTTP/1.1 503") and result.ready_503_at is None:
                    result.ready_503_at = time.monotonic()
                    result.ready_503_body = json.loads(body)
            writer.close()
        await asyncio.sleep(0.05)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


@contextlib.contextmanager
def slow_stack(
    logs: Path, chunk_delay: float, **server: float
) -> Iterator[tuple[str, ServerProcess]]:
    with fake_upstreams(logs) as fakes:
        stream_slowly(fakes, CHUNKS, chunk_delay)
        config = server_config(fakes, server=server)
        with running_server(config, logs) as process:
            yield fakes, process


def start_streams(
    session: aiohttp.ClientSession, server: ServerProcess, count: int
) -> tuple[list[StreamRecord], list[asyncio.Task[StreamRecord]]]:
    """``count`` streams, alternately chat completions and native runs."""
    records: list[StreamRecord] = []
    tasks: list[asyncio.Task[StreamRecord]] = []
    for index in range(count):
        body: dict[str, Any]
        if index % 2:
            url, body = f"{server.url}/v1/agents/coding/runs", {"input": "hi"}
        else:
            url = f"{server.url}/v1/chat/completions"
            body = {"model": "coding", "messages": [{"role": "user", "content": "hi"}]}
        record = StreamRecord()
        records.append(record)
        tasks.append(asyncio.create_task(stream(session, url, body, record)))
    return records, tasks


async def mid_stream(records: list[StreamRecord], tasks: list[asyncio.Task[StreamRecord]]) -> None:
    async with asyncio.timeout(30):
        while not all(record.first_delta.is_set() for record in records):
            finished = [task for task in tasks if task.done()]
            assert not finished, [task.exception() for task in finished]
            await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_sigterm_under_load_finishes_every_stream(logs: Path) -> None:
    drain_seconds, shutdown_timeout = 1.5, 15.0
    with slow_stack(
        logs, 0.2, drain_seconds=drain_seconds, shutdown_timeout_seconds=shutdown_timeout
    ) as (_, server):
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            records, tasks = start_streams(session, server, STREAMS)
            # SIGTERM only once every stream is mid-stream (its first delta arrived).
            await mid_stream(records, tasks)
            stop = asyncio.Event()
            seen = Probe()
            probing = asyncio.create_task(probe(server.port, seen, stop))
            signalled_at = time.monotonic()
            server.signal(signal.SIGTERM)
            records = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
            stop.set()
            await probing
        exit_code = await asyncio.to_thread(server.wait, drain_seconds + shutdown_timeout)
        exited_at = time.monotonic()

    assert exit_code == 0, server.output()
    assert exited_at - signalled_at <= drain_seconds + shutdown_timeout
    for record in records:
        names = [name for name, _ in record.events]
        if names[0] == "run.started":
            assert names[-1] == "run.completed", names
            deltas = [
                json.loads(data)["delta"] for name, data in record.events if name == "run.delta"
            ]
            assert "".join(deltas) == FULL_TEXT
            assert json.loads(record.events[-1][1])["output"] == FULL_TEXT
        else:
            assert record.events[-1] == (None, "[DONE]")
            text = ""
            for _, data in record.events[:-1]:
                for choice in json.loads(data)["choices"]:
                    text += choice["delta"].get("content") or ""
            assert text == FULL_TEXT
    # Readiness turned 503 ("draining") during the window, then new connections were refused,
    # while the streams were still running.
    assert seen.ready_503_at is not None
    assert seen.ready_503_body == {"status": "not_ready", "reason": "draining"}
    assert seen.ready_503_at - signalled_at < 1.0
    assert seen.refused_at is not None
    assert seen.refused_at - signalled_at >= drain_seconds - 0.1
    assert not seen.answered_after_refused
    assert seen.refused_at < max(record.ended_at for record in records)


@pytest.mark.slow
async def test_streams_past_the_shutdown_timeout_end_with_an_error_event(logs: Path) -> None:
    drain_seconds, shutdown_timeout = 0.5, 1.5
    # Each stream would take 20 s: far past the shutdown timeout.
    with slow_stack(
        logs, 1.0, drain_seconds=drain_seconds, shutdown_timeout_seconds=shutdown_timeout
    ) as (_, server):
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            records, tasks = start_streams(session, server, 10)
            await mid_stream(records, tasks)
            signalled_at = time.monotonic()
            server.signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        exit_code = await asyncio.to_thread(server.wait, 30)
        exited_at = time.monotonic()

    assert exit_code == 0, server.output()
    # The drain, the shutdown timeout, and the grace period streams get to write their last event.
    assert (
        exited_at - signalled_at
        <= drain_seconds + shutdown_timeout + STREAM_ABORT_GRACE_SECONDS + 1
    )
    for record in records:
        assert record.ended_at - signalled_at >= drain_seconds + shutdown_timeout - 0.1
        name, data = record.events[-1]
        if name is None:
            assert data == "[DONE]"
            error = json.loads(record.events[-2][1])["error"]
        else:
            assert name == "run.failed"
            error = json.loads(data)["error"]
        assert error["code"] == "server_shutting_down"
        assert error["type"] == "server_error"
    assert "shutdown timeout expired" in server.output()
