"""The interface of a limits store, and the in-process store (the default and the fallback)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final, Protocol

from ._model import Bucket, Budget, Decision

MAX_ENTRIES: Final = 10_000


class LimitStore(Protocol):
    """Where counters live. Every method is one atomic operation (one round trip for Redis)."""

    async def hit(self, key: str, bucket: Bucket) -> Decision:
        """Take one request from ``key``'s bucket."""
        ...

    async def check(self, budgets: Sequence[Budget]) -> Decision | None:
        """The first exhausted budget as a refusal, or None when every budget has tokens left."""
        ...

    async def charge(self, budgets: Sequence[Budget], tokens: int) -> None:
        """Add ``tokens`` to every budget's current window."""
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

    async def check(self, budgets: Sequence[Budget]) -> Decision | None:
        now = int(time.time())
        for budget in budgets:
            index = now // budget.window
            entry = self._windows.get((budget.key, budget.window))
            used = entry[1] if entry is not None and entry[0] == index else 0
            if used >= budget.limit:
                return budget.refused(used, (index + 1) * budget.window - now)
        return None

    async def charge(self, budgets: Sequence[Budget], tokens: int) -> None:
        now = int(time.time())
        windows = self._windows
        for budget in budgets:
            index = now // budget.window
            name = (budget.key, budget.window)
            entry = windows.get(name)
            if entry is None or entry[0] != index:
                windows[name] = [index, tokens]
                if len(windows) > self.max_entries:
                    windows.popitem(last=False)
            else:
                entry[1] += tokens
                windows.move_to_end(name)
