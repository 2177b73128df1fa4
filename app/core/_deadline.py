"""A streamed call's deadline: one timer for the whole call, not one per chunk.

``asyncio.timeout_at`` around each wait for the next chunk built, scheduled and cancelled a timer
per chunk (about 4 us each, bench/FINDINGS.md section 14). This timer is set once; it cancels the
task only while the task waits for the upstream, and a wait that starts after it fired fails at
once. The cancellation is told apart from any other the way ``asyncio.Timeout`` does it
(``Task.uncancel``), so a client that goes away still cancels the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class CallDeadline:
    """``await deadline.next(iterator)``: the iterator's next item, or ``TimeoutError`` once
    the loop's clock passes ``when``. :meth:`close` when the call ends."""

    __slots__ = ("_cancelled", "_handle", "_waiting", "expired")

    def __init__(self, when: float) -> None:
        self.expired = False
        self._cancelled = False
        self._waiting: asyncio.Task[object] | None = None
        self._handle = asyncio.get_running_loop().call_at(when, self._expire)

    def _expire(self) -> None:
        self.expired = True
        if self._waiting is not None:
            self._cancelled = True
            self._waiting.cancel()

    async def next(self, iterator: AsyncIterator[T]) -> T:
        if self.expired:
            raise TimeoutError
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        self._waiting = task
        try:
            return await anext(iterator)
        except asyncio.CancelledError:
            if self._cancelled and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._waiting = None

    def close(self) -> None:
        self._handle.cancel()
