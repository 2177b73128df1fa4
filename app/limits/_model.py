"""What the limiter decides, and the limits it decides about."""

from __future__ import annotations

import math
from dataclasses import dataclass

REQUESTS = "requests"
TOKENS_PER_MINUTE = "tokens-per-minute"
TOKENS_PER_DAY = "tokens-per-day"
AGENT_TOKENS_PER_MINUTE = "agent-tokens-per-minute"
AGENT_TOKENS_PER_DAY = "agent-tokens-per-day"
# The values of the ``limit`` label: fixed, so rejections never make one series per subject.
LIMIT_NAMES = (
    REQUESTS,
    TOKENS_PER_MINUTE,
    TOKENS_PER_DAY,
    AGENT_TOKENS_PER_MINUTE,
    AGENT_TOKENS_PER_DAY,
)
MINUTE = 60
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one check, with the limit that applied (``name``) for the headers."""

    allowed: bool
    name: str
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f'{self.limit};w={self.window_seconds};name="{self.name}"',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket of ``burst`` requests refilled at ``per_minute``."""

    per_minute: int
    burst: int

    @property
    def window_seconds(self) -> int:
        return max(1, math.ceil(self.burst * MINUTE / self.per_minute))

    def decision(self, allowed: bool, tokens: float) -> Decision:
        rate = self.per_minute / MINUTE
        reset = math.ceil((self.burst - tokens) / rate)
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - tokens) / rate))
        return Decision(
            allowed, REQUESTS, self.burst, int(tokens), reset, retry_after, self.window_seconds
        )


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``limit`` tokens per fixed window of ``window`` seconds (UTC minutes or days)
    for ``key`` (``sub:<subject>`` or ``agent:<name>``)."""

    key: str
    name: str
    limit: int
    window: int

    def refused(self, used: int, seconds_left: int) -> Decision:
        return Decision(
            False,
            self.name,
            self.limit,
            max(0, self.limit - used),
            seconds_left,
            max(1, seconds_left),
            self.window,
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """Tokens set aside in each budget's window (``windows``: one window index per budget), to be
    settled against the same windows once the run's usage is known. ``local`` marks a
    reservation the in-process fallback made while the shared store was down."""

    tokens: int
    windows: tuple[int, ...]
    local: bool = False
