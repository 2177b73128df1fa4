"""Process lifecycle state shared by the health views, the middlewares and the shutdown runner."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

NotReadyReason = Literal["starting", "draining", "stopping"]


class ServerState:
    """Readiness, draining and in-flight bookkeeping for one application."""

    __slots__ = ("_idle", "in_flight", "not_ready_reason", "shutdown_deadline", "started_at")

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.not_ready_reason: NotReadyReason | None = "starting"
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Set when the shutdown timeout has expired: long streams should send a final error
        # event and return, because the server is about to cancel them.
        self.shutdown_deadline = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self.not_ready_reason is None

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_at

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()
