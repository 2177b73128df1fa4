"""Stop work nobody is waiting for: cancel a handler when its client goes away or shutdown ends.

aiohttp only cancels handlers on disconnect when the runner enables ``handler_cancellation``;
this watch does not depend on it. It checks the connection on a timer (no task, no allocation
per check beyond the timer handle), so an upstream request is cancelled within
``CHECK_INTERVAL_SECONDS`` of the client leaving, even while no bytes flow.
"""

from __future__ import annotations

import asyncio
from typing import Literal, Self

from aiohttp import web

CHECK_INTERVAL_SECONDS = 0.2

StopReason = Literal["disconnected", "shutdown"]


class ConnectionWatch:
    __slots__ = ("_handle", "_loop", "_request", "_shutdown", "_task", "reason")

    def __init__(self, request: web.Request, shutdown: asyncio.Event) -> None:
        self._request = request
        self._shutdown = shutdown
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._handle: asyncio.TimerHandle | None = None
        self.reason: StopReason | None = None

    def __enter__(self) -> Self:
        self._handle = self._loop.call_later(CHECK_INTERVAL_SECONDS, self._check)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        transport = self._request.transport
        if transport is None or transport.is_closing():
            self._stop("disconnected")
        elif self._shutdown.is_set():
            self._stop("shutdown")
        else:
            self._handle = self._loop.call_later(CHECK_INTERVAL_SECONDS, self._check)

    def _stop(self, reason: StopReason) -> None:
        self._handle = None
        self.reason = reason
        if self._task is not None:
            self._task.cancel()

    def absorb_shutdown(self) -> bool:
        """After a CancelledError: True (and the cancellation undone) if this watch caused it
        because the shutdown deadline passed, so the handler can still send a final event."""
        if self.reason != "shutdown" or self._task is None:
            return False
        self._task.uncancel()
        return True
