"""Fake upstreams with the faults ``tests.fakes`` cannot script: a stall after the first streamed
chunk, and for non-streaming calls a body cut short (stalled or reset) or SSE instead of JSON."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from tests.fakes import Behavior, FakeAnthropic, FakeOpenAI, FakeUpstream, build_app
from tests.fakes._base import Sleep, StreamEvent, TextChunk, _drop
from tests.fakes._rules import Rejected

BodyFault = Literal["stall", "reset", "sse"]
# Longer than any agent timeout in the fault tests: a stall only ends when someone gives up.
STALL_SECONDS = 60.0


class _Faults:
    """Extra faults of one fake provider; ``None`` everywhere means the plain fake."""

    stall_after_first_chunk: bool = False
    body_fault: BodyFault | None = None


def _stalled(events: list[StreamEvent]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    stalled = False
    for event in events:
        out.append(event)
        if isinstance(event, TextChunk) and not stalled:
            out.append(Sleep(STALL_SECONDS))
            stalled = True
    return out


async def _broken_body(
    fake: FakeUpstream, request: web.Request, fault: BodyFault
) -> web.StreamResponse:
    try:
        body = await fake.accept(request)
    except Rejected as exc:
        return web.json_response(exc.body, status=exc.status)
    if fault == "sse":
        return web.Response(
            body=b"data: {this is not json\n\n", content_type="text/event-stream", status=200
        )
    full = json.dumps(fake.complete_body(body, Behavior())).encode()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(full)
    await response.prepare(request)
    await response.write(full[: len(full) // 2])
    if fault == "stall":
        await asyncio.sleep(STALL_SECONDS)
    else:
        _drop(request, "reset")
    return response


@dataclass
class FaultyOpenAI(FakeOpenAI, _Faults):
    def stream_events(self, body: dict[str, Any], behavior: Behavior) -> list[StreamEvent]:
        events = super().stream_events(body, behavior)
        return _stalled(events) if self.stall_after_first_chunk else events

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.body_fault is not None:
            return await _broken_body(self, request, self.body_fault)
        return await super().handle(request)


@dataclass
class FaultyAnthropic(FakeAnthropic, _Faults):
    def stream_events(self, body: dict[str, Any], behavior: Behavior) -> list[StreamEvent]:
        events = super().stream_events(body, behavior)
        return _stalled(events) if self.stall_after_first_chunk else events

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.body_fault is not None:
            return await _broken_body(self, request, self.body_fault)
        return await super().handle(request)


class FaultServer:
    """Both faulty fakes on one loopback port (handler cancellation on, as in ``FakeServer``)."""

    def __init__(self) -> None:
        self.openai = FaultyOpenAI()
        self.anthropic = FaultyAnthropic()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def upstream(self, provider: str) -> FaultyOpenAI | FaultyAnthropic:
        return self.openai if provider == "openai" else self.anthropic

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FaultServer:
        app = build_app({"openai": self.openai, "anthropic": self.anthropic})
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
