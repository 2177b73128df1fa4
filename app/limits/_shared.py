"""The shared store behind a failure policy: a short timeout on every call, then either the
in-process store (fail open) or a 503 (fail closed) until the store answers again.

A failed call is decided by the policy on its own; after ``FAILURES_TO_OPEN`` failures in a row
the store is left alone for ``retry_interval_seconds`` (requests do not each wait for a timeout)
and a background probe, or the first request after the interval, finds out when it is back.
Each failure is counted and logged; so is every change of state.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Final, Literal, TypeVar

import structlog

from app.contract import errors
from app.errors import ServiceUnavailableError

from ._metrics import LimitMetrics
from ._model import Bucket, Budget, Decision, Reservation
from ._store import LimitStore, MemoryStore

if TYPE_CHECKING:
    from ._redis import RedisStore

log = structlog.get_logger("agentsmcp.limits")

T = TypeVar("T")
PROBE_SECONDS: Final = 5.0
FAILURES_TO_OPEN: Final = 3
_TRANSPORT_ERRORS: Final = (OSError, TimeoutError)


def store_errors() -> tuple[type[Exception], ...]:
    """What a failed call to the shared store raises. redis-py is imported only with the redis
    backend (it is about 12 MB of every process's RSS); before that, no call can raise its
    errors."""
    redis_exceptions = sys.modules.get("redis.exceptions")
    if redis_exceptions is None:
        return _TRANSPORT_ERRORS
    return (redis_exceptions.RedisError, *_TRANSPORT_ERRORS)


class StoreUnavailableError(ServiceUnavailableError):
    error = errors.RATE_LIMIT_STORE_UNAVAILABLE


@dataclass(eq=False)
class FailoverStore:
    shared: RedisStore
    fallback: MemoryStore
    _: KW_ONLY
    policy: Literal["open", "closed"]
    timeout: float
    retry_interval: float
    metrics: LimitMetrics
    up: bool = field(default=True, init=False)
    _failures: int = field(default=0, init=False)
    _retry_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._degraded = self.metrics.degraded.labels(self.policy)
        self._set_up(1)

    async def hit(self, key: str, bucket: Bucket) -> Decision:
        return await self._call("hit", lambda store: store.hit(key, bucket))

    async def reserve(self, budgets: Sequence[Budget], tokens: int) -> Decision | Reservation:
        return await self._call("reserve", lambda store: store.reserve(budgets, tokens))

    async def charge(
        self, budgets: Sequence[Budget], tokens: int, reservation: Reservation | None = None
    ) -> None:
        # Usage already happened: never refuse it. Fail closed still keeps a local count, and
        # a reservation the fallback made is settled where it was made.
        if reservation is not None and reservation.local:
            await self.fallback.charge(budgets, tokens, reservation)
            return
        try:
            await self._call("charge", lambda store: store.charge(budgets, tokens, reservation))
        except StoreUnavailableError:
            await self.fallback.charge(budgets, tokens, reservation)

    async def _call(self, operation: str, call: Callable[[LimitStore], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        if self.up or loop.time() >= self._retry_at:
            try:
                async with asyncio.timeout(self.timeout):
                    result = await call(self.shared)
            except store_errors() as exc:
                self._failed(operation, exc, loop.time())
            else:
                self._failures = 0
                if not self.up:
                    self._recovered()
                return result
        self._degraded.inc()
        if self.policy == "closed":
            raise StoreUnavailableError(headers={"Retry-After": "1"})
        return await call(self.fallback)

    async def probe(self) -> None:
        """Ping the store; run periodically so recovery is seen (and the gauge is true) without
        traffic."""
        try:
            async with asyncio.timeout(self.timeout):
                await self.shared.ping()
        except store_errors() as exc:
            self._failed("ping", exc, asyncio.get_running_loop().time())
        else:
            self._failures = 0
            if not self.up:
                self._recovered()

    async def run_probe(self) -> None:
        while True:
            await asyncio.sleep(self.retry_interval if not self.up else PROBE_SECONDS)
            await self.probe()

    def _failed(self, operation: str, exc: BaseException, now: float) -> None:
        self.metrics.store_error(operation)
        self._failures += 1
        error = type(exc).__name__
        if self.up and self._failures < FAILURES_TO_OPEN:
            log.warning(
                "rate-limit store call failed", operation=operation, error=error, policy=self.policy
            )
            return
        self._retry_at = now + self.retry_interval
        if self.up:
            self.up = False
            self._set_up(0)
            self.metrics.fallbacks.inc()
            log.error(
                "rate-limit store unreachable",
                operation=operation,
                error=error,
                detail=str(exc)[:200],
                policy=self.policy,
                fallback="in-process limits" if self.policy == "open" else "503",
            )
        else:
            log.warning("rate-limit store still unreachable", operation=operation, error=error)

    def _recovered(self) -> None:
        self.up = True
        self._set_up(1)
        log.info("rate-limit store reachable again; shared limits resume")

    def _set_up(self, value: int) -> None:
        self.metrics.store_up.set(value)

    async def aclose(self) -> None:
        with contextlib.suppress(*store_errors()):
            await self.shared.client.aclose()
