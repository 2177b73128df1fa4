"""Token-bucket rate limiting per key (JWT subject, or client IP on public paths).

Buckets live in an LRU map bounded by ``max_buckets``: the least recently used bucket is evicted
first, so 100,000 distinct subjects cannot grow memory without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from app.config import RateLimitSettings

MAX_BUCKETS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class RateLimiter:
    """``burst`` requests at once, refilled at ``requests_per_minute``."""

    def __init__(self, settings: RateLimitSettings, *, max_buckets: int = MAX_BUCKETS) -> None:
        self.capacity = float(settings.burst)
        self.limit = settings.burst
        self.rate_per_second = settings.requests_per_minute / 60.0
        self.max_buckets = max_buckets
        # key -> [tokens, monotonic time of the last refill]
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str, now: float | None = None) -> Decision:
        if now is None:
            now = time.monotonic()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = [self.capacity, now]
            buckets[key] = bucket
            if len(buckets) > self.max_buckets:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
            elapsed = now - bucket[1]
            if elapsed > 0:
                bucket[0] = min(self.capacity, bucket[0] + elapsed * self.rate_per_second)
                bucket[1] = now
        tokens = bucket[0]
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
            bucket[0] = tokens
        reset = math.ceil((self.capacity - tokens) / self.rate_per_second)
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate_per_second))
        return Decision(allowed, self.limit, int(tokens), reset, retry_after)
