"""Shared machinery of the fake upstreams: scripted behaviours, request records, SSE writing."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from aiohttp import web

from ._rules import Rejected

# How many requests, headers and disconnects each fake remembers (the newest ones).
RECORD_LIMIT = 10_000

DropMode = Literal["close", "reset"]


ARGUMENT_FRAGMENTS = 3


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call a fake answers with; ``arguments`` is the JSON text of an object."""

    name: str
    arguments: str = "{}"
    id: str | None = None

    def fragments(self) -> list[str]:
        size = max(1, -(-len(self.arguments) // ARGUMENT_FRAGMENTS))
        return [self.arguments[i : i + size] for i in range(0, len(self.arguments), size)]


def numbered_chunks(count: int) -> tuple[str, ...]:
    """``count`` text chunks of a few characters each, like a model's token deltas."""
    return tuple(f"tok{index} " for index in range(count))


@dataclass
class Behavior:
    """What the fake does for one upstream request.

    ``status`` other than 200 answers with the provider's error body (and ``retry_after`` headers).
    ``drop_after`` cuts a stream after that many text chunks: ``close`` ends the TCP connection
    without finishing the chunked body, ``reset`` aborts it with an RST.
    ``tool_calls`` makes the answer call tools (after the text of ``chunks``, if any) in the
    provider's wire format, finish reason ``tool_calls`` / ``tool_use``; streamed, each call's
    arguments arrive in :data:`ARGUMENT_FRAGMENTS` pieces.
    """

    status: int = 200
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    chunks: tuple[str, ...] = ("Hello", ", ", "world", "!")
    chunk_delay: float = 0.0
    header_delay: float = 0.0
    drop_after: int | None = None
    drop_mode: DropMode = "close"
    malformed_body: bool = False
    bad_sse_after: int | None = None
    finish: str | None = None
    prompt_tokens: int = 11
    completion_tokens: int | None = None
    tool_calls: tuple[ScriptedCall, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Behavior:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        values = dict(data)
        if "chunks" in values:
            values["chunks"] = tuple(values["chunks"])
        if "tool_calls" in values:
            values["tool_calls"] = tuple(ScriptedCall(**call) for call in values["tool_calls"])
        return cls(**values)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def output_tokens(self) -> int:
        return len(self.chunks) if self.completion_tokens is None else self.completion_tokens


@dataclass
class Disconnect:
    """A client that went away before the fake finished answering."""

    at: float
    path: str
    chunks_sent: int


@dataclass
class FakeUpstream:
    """State of one fake provider: a script of behaviours, counters and a record of requests.

    Behaviours queued with :meth:`script` are used once each, in order; after that every request
    gets ``default``.
    """

    default: Behavior = field(default_factory=Behavior)
    attempts: int = 0
    # Bounded: the benchmark runs the fake for hundreds of thousands of requests.
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECORD_LIMIT))
    headers: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=RECORD_LIMIT))
    disconnects: deque[Disconnect] = field(default_factory=lambda: deque(maxlen=RECORD_LIMIT))
    # Bodies the real API would refuse, with the error the fake answered (newest kept).
    rejected: deque[tuple[dict[str, Any] | None, dict[str, Any]]] = field(
        default_factory=lambda: deque(maxlen=RECORD_LIMIT)
    )
    _queue: deque[Behavior] = field(default_factory=deque)
    _disconnected: asyncio.Event | None = None
    _inflight: int = 0

    path: str = ""

    def script(self, *behaviors: Behavior) -> None:
        self._queue.extend(behaviors)

    def reset(self) -> None:
        self._queue.clear()
        self.attempts = 0
        self.requests.clear()
        self.headers.clear()
        self.disconnects.clear()
        self.rejected.clear()

    @property
    def inflight(self) -> int:
        return self._inflight

    async def wait_disconnect(self, within: float) -> Disconnect:
        """Wait until a client drops a connection mid-answer; return the record."""
        deadline = time.monotonic() + within
        while not self.disconnects:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no client disconnect was recorded")
            await asyncio.sleep(min(0.01, remaining))
        return self.disconnects[0]

    def stats(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "inflight": self._inflight,
            "rejected": len(self.rejected),
            "disconnects": [
                {"at": d.at, "path": d.path, "chunks_sent": d.chunks_sent} for d in self.disconnects
            ],
        }

    def _next(self) -> Behavior:
        return self._queue.popleft() if self._queue else self.default

    async def accept(self, request: web.Request) -> dict[str, Any]:
        """Count and record a request; its body if the real API would accept it, else raise
        :class:`Rejected` with the real API's answer."""
        self.attempts += 1
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.headers.append(headers)
        raw = await request.read()
        try:
            body = self.check(raw, headers)
        except Rejected as exc:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            self.rejected.append((parsed if isinstance(parsed, dict) else None, exc.body))
            raise
        self.requests.append(body)
        return body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._inflight += 1
        progress = _Progress()
        try:
            try:
                body = await self.accept(request)
            except Rejected as exc:
                return web.json_response(exc.body, status=exc.status)
            behavior = self._next()
            if behavior.header_delay:
                await asyncio.sleep(behavior.header_delay)
            if behavior.status != 200:
                return self._error(behavior)
            if behavior.malformed_body:
                broken = '{"id": "broken", "choices": ['
                return web.Response(status=200, text=broken, content_type="application/json")
            if body.get("stream"):
                return await self._stream(request, body, behavior, progress)
            return web.json_response(self.complete_body(body, behavior))
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects.append(
                Disconnect(at=time.monotonic(), path=request.path, chunks_sent=progress.chunks)
            )
            raise
        finally:
            self._inflight -= 1

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        behavior: Behavior,
        progress: _Progress,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in self.stream_events(body, behavior):
            if event is DROP:
                _drop(request, behavior.drop_mode)
                return response
            if isinstance(event, Sleep):
                await asyncio.sleep(event.seconds)
                continue
            assert isinstance(event, bytes)
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("client went away")
            await response.write(event)
            if isinstance(event, TextChunk):
                progress.chunks += 1
        await response.write_eof()
        return response

    # Provider formats implement these.
    def check(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    def complete_body(self, body: dict[str, Any], behavior: Behavior) -> dict[str, Any]:
        raise NotImplementedError

    def stream_events(self, body: dict[str, Any], behavior: Behavior) -> list[StreamEvent]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def _error(self, behavior: Behavior) -> web.Response:
        headers: dict[str, str] = {}
        if behavior.retry_after is not None:
            headers["retry-after"] = f"{behavior.retry_after:g}"
        if behavior.retry_after_ms is not None:
            headers["retry-after-ms"] = str(behavior.retry_after_ms)
        message = behavior.message or f"fake upstream error {behavior.status}"
        return web.json_response(
            self.error_body(behavior.status, message), status=behavior.status, headers=headers
        )


@dataclass
class _Progress:
    chunks: int = 0


@dataclass(frozen=True)
class Sleep:
    seconds: float


class TextChunk(bytes):
    """An SSE event carrying generated text; writing one counts towards ``chunks_sent``."""


DROP = object()
StreamEvent = bytes | Sleep | object


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def text_events(
    behavior: Behavior, render: Callable[[str], bytes], broken: bytes
) -> list[StreamEvent]:
    """Text chunks with delays, drops and broken events interleaved as the behaviour asks."""
    events: list[StreamEvent] = []
    for index, chunk in enumerate(behavior.chunks):
        if behavior.drop_after is not None and index == behavior.drop_after:
            events.append(DROP)
            return events
        if behavior.bad_sse_after is not None and index == behavior.bad_sse_after:
            events.append(broken)
        if behavior.chunk_delay:
            events.append(Sleep(behavior.chunk_delay))
        events.append(TextChunk(render(chunk)))
    if behavior.drop_after is not None and behavior.drop_after >= len(behavior.chunks):
        events.append(DROP)
    return events


def _drop(request: web.Request, mode: DropMode) -> None:
    transport = request.transport
    if transport is None:
        return
    if mode == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
