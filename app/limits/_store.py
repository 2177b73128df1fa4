"""The interface of a limits store, and the in-process store (the default and the fallback)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final, Protocol

from ._model import Bucket, Budget, Decision, Reservation

MAX_ENTRIES: Final = 10_000


class LimitStore(Protocol):
    """Where counters live. Every method is one atomic operation (one round trip for Redis)."""

    async def hit(self, key: str, bucket: Bucket) -> Decision:
        """Take one request from ``key``'s bucket."""
        ...

    async def reserve(self, budgets: Sequence[Budget], tokens: int) -> Decision | Reservation:
        """The first spent budget as a refusal; otherwise set ``tokens`` aside in every budget."""
        ...

    async def charge(
        self, budgets: Sequence[Budget], tokens: int, reservation: Reservation | None = None
    ) -> None:
        """Add ``tokens`` (negative: give back) to each budget's window: the current ones, or
        the reservation's. Giving back to a window that expired does nothing."""
        ...


class MemoryStore:
    """Counters in this process only. Each map keeps at most ``max_entries`` keys, the least
    recently used evicted first, so 100,000 distinct subjects cannot grow memory without bound."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        # key -> [tokens, monotonic time of the last refill]
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        # (key, window) -> [window index, tokens used in it]
        self._windows: OrderedDict[tuple[str, int], list[int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets) + len(self._windows)

    async def hit(self, key: str, bucket: Bucket) -> Decision:
        return self.hit_now(key, bucket, time.monotonic())

    def hit_now(self, key: str, bucket: Bucket, now: float) -> Decision:
        buckets = self._buckets
        state = buckets.get(key)
        capacity = float(bucket.burst)
        if state is None:
            state = [capacity, now]
            buckets[key] = state
            if len(buckets) > self.max_entries:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
            elapsed = now - state[1]
            if elapsed > 0:
                state[0] = min(capacity, state[0] + elapsed * bucket.per_minute / 60.0)
                state[1] = now
        allowed = state[0] >= 1.0
        if allowed:
            state[0] -= 1.0
        return bucket.decision(allowed, state[0])

    async def reserve(self, budgets: Sequence[Budget], tokens: int) -> Decision | Reservation:
        now = int(time.time())
        windows = []
        for budget in budgets:
            index = now // budget.window
            entry = self._windows.get((budget.key, budget.window))
            used = entry[1] if entry is not None and entry[0] == index else 0
            if used >= budget.limit:
                return budget.refused(used, (index + 1) * budget.window - now)
            windows.append(index)
        reservation = Reservation(tokens, tuple(windows), local=True)
        await self.charge(budgets, tokens, reservation)
        return reservation

    async def charge(
        self, budgets: Sequence[Budget], tokens: int, reservation: Reservation | None = None
    ) -> None:
        now = int(time.time())
        windows = None if reservation is None else reservation.windows
        entries = self._windows
        for position, budget in enumerate(budgets):
            index = now // budget.window if windows is None else windows[position]
            name = (budget.key, budget.window)
            entry = entries.get(name)
            if entry is not None and entry[0] == index:
                entry[1] += tokens
                entries.move_to_end(name)
            elif tokens > 0 and (entry is None or entry[0] < index):
                entries[name] = [index, tokens]
                entries.move_to_end(name)
                if len(entries) > self.max_entries:
                    entries.popitem(last=False)
