"""The streamed call's single deadline timer (app/core/_deadline.py) on a real event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.core._deadline import CallDeadline


async def _paced(delay: float, count: int = 100) -> AsyncIterator[int]:
    for index in range(count):
        await asyncio.sleep(delay)
        yield index


async def test_items_before_the_deadline_pass() -> None:
    loop = asyncio.get_running_loop()
    deadline = CallDeadline(loop.time() + 5)
    items = _paced(0.001, 3)
    assert [await deadline.next(items) for _ in range(3)] == [0, 1, 2]
    deadline.close()


async def test_a_wait_past_the_deadline_times_out() -> None:
    loop = asyncio.get_running_loop()
    deadline = CallDeadline(loop.time() + 0.05)
    started = loop.time()
    with pytest.raises(TimeoutError):
        await deadline.next(_paced(5))
    assert loop.time() - started < 1
    deadline.close()


async def test_a_deadline_passed_while_the_consumer_was_busy_fails_the_next_wait() -> None:
    loop = asyncio.get_running_loop()
    deadline = CallDeadline(loop.time() + 0.02)
    items = _paced(0)
    assert await deadline.next(items) == 0
    await asyncio.sleep(0.05)  # the consumer writes; the timer fires meanwhile
    with pytest.raises(TimeoutError):
        await deadline.next(items)
    deadline.close()


async def test_another_cancellation_is_not_a_timeout() -> None:
    loop = asyncio.get_running_loop()
    deadline = CallDeadline(loop.time() + 5)
    waiting = asyncio.create_task(deadline.next(_paced(5)))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    deadline.close()


async def test_a_cancellation_together_with_the_deadline_stays_a_cancellation() -> None:
    loop = asyncio.get_running_loop()
    deadline = CallDeadline(loop.time() + 0.02)
    waiting = asyncio.create_task(deadline.next(_paced(5)))
    await asyncio.sleep(0)
    # Cancelled by its owner just before the timer fires: both requests reach the task.
    loop.call_at(loop.time() + 0.02, waiting.cancel)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    deadline.close()


async def test_close_stops_the_timer() -> None:
    loop = asyncio.get_running_loop()
    deadline = CallDeadline(loop.time() + 0.01)
    deadline.close()
    await asyncio.sleep(0.03)
    assert not deadline.expired
