"""The limits of each subject and agent, and the account a run charges its tokens to."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import LimitOverride, RateLimitSettings
from app.contract import errors
from app.errors import RateLimitError

from ._metrics import LimitMetrics
from ._model import (
    AGENT_TOKENS_PER_DAY,
    AGENT_TOKENS_PER_MINUTE,
    DAY,
    MINUTE,
    REQUESTS,
    TOKENS_PER_DAY,
    TOKENS_PER_MINUTE,
    Bucket,
    Budget,
    Decision,
    Reservation,
)
from ._store import LimitStore, MemoryStore


@dataclass(frozen=True, slots=True)
class Quota:
    """What one caller (``key``: ``sub:<subject>`` or ``ip:<address>``) may use."""

    key: str
    bucket: Bucket
    budgets: tuple[Budget, ...]


def _budgets(
    key: str, per_minute: int | None, per_day: int | None, *, agent: bool
) -> tuple[Budget, ...]:
    names = (
        (AGENT_TOKENS_PER_MINUTE, AGENT_TOKENS_PER_DAY)
        if agent
        else (
            TOKENS_PER_MINUTE,
            TOKENS_PER_DAY,
        )
    )
    budgets = []
    if per_minute is not None:
        budgets.append(Budget(key, names[0], per_minute, MINUTE))
    if per_day is not None:
        budgets.append(Budget(key, names[1], per_day, DAY))
    return tuple(budgets)


def _merge(base: LimitOverride, top: LimitOverride | None) -> LimitOverride:
    if top is None:
        return base
    return base.model_copy(update=top.model_dump(exclude_none=True))


class Limits:
    """Request limits and token budgets over one store (``store``). Public paths are limited
    per client address in ``local`` (this process): probes never wait on the shared store."""

    def __init__(
        self,
        settings: RateLimitSettings,
        store: LimitStore,
        local: MemoryStore,
        metrics: LimitMetrics,
    ) -> None:
        self.store = store
        self.local = local
        self.metrics = metrics
        self._defaults = LimitOverride(
            requests_per_minute=settings.requests_per_minute,
            burst=settings.burst,
            tokens_per_minute=settings.tokens_per_minute,
            tokens_per_day=settings.tokens_per_day,
        )
        self._subjects = {
            subject: _merge(self._defaults, override)
            for subject, override in settings.subjects.items()
        }
        self._agent_budgets = {
            name: _budgets(
                "agent:" + name, budget.tokens_per_minute, budget.tokens_per_day, agent=True
            )
            for name, budget in settings.agents.items()
        }
        self._default_bucket = Bucket(settings.requests_per_minute, settings.burst)

    def quota(self, key: str, subject: str | None, claim: LimitOverride | None) -> Quota:
        limits = self._subjects.get(subject, self._defaults) if subject else self._defaults
        limits = _merge(limits, claim)
        per_minute, burst = limits.requests_per_minute, limits.burst
        # The defaults set both.
        assert per_minute is not None
        assert burst is not None
        bucket = self._default_bucket
        if (per_minute, burst) != (bucket.per_minute, bucket.burst):
            bucket = Bucket(per_minute, burst)
        budgets = _budgets(key, limits.tokens_per_minute, limits.tokens_per_day, agent=False)
        return Quota(key, bucket, budgets)

    async def hit(self, quota: Quota, *, local: bool = False) -> Decision:
        store = self.local if local else self.store
        decision = await store.hit(quota.key, quota.bucket)
        if not decision.allowed:
            self.metrics.rejected(REQUESTS)
        return decision

    def account(self, quota: Quota | None) -> BudgetAccount | None:
        """The token account of a run, or None when no budget could apply."""
        if quota is None or not (quota.budgets or self._agent_budgets):
            return None
        return BudgetAccount(self, quota)

    def budgets_of(self, quota: Quota, agent: str) -> tuple[Budget, ...]:
        return quota.budgets + self._agent_budgets.get(agent, ())


class _Held:
    __slots__ = ("budgets", "excess", "reservation", "used")

    def __init__(self, budgets: tuple[Budget, ...], reservation: Reservation | None) -> None:
        self.budgets = budgets
        self.reservation = reservation
        self.used = 0
        self.excess = 0


class BudgetAccount:
    """One request's token budgets (its subject's and each agent's). Implements the runner's
    ``TokenAccount``.

    ``admit`` reserves the run's largest plausible use (prompt estimate + max tokens) in every
    budget at once, so concurrent runs on every replica see each other before any usage is
    reported; ``charge`` counts reported usage (only what exceeds the reservation reaches the
    store); ``settle`` gives back what the run did not use.
    """

    __slots__ = ("_held", "_limits", "_quota")

    def __init__(self, limits: Limits, quota: Quota) -> None:
        self._limits = limits
        self._quota = quota
        self._held: dict[str, _Held] = {}

    async def admit(self, agent: str, tokens: int) -> None:
        """Raise a 429 naming the budget when one of them is spent. Once per agent until it is
        settled: a handler may admit early (before it opens a stream) at no extra cost."""
        if agent in self._held:
            return
        budgets = self._limits.budgets_of(self._quota, agent)
        reservation = None
        if budgets:
            result = await self._limits.store.reserve(budgets, tokens)
            if isinstance(result, Decision):
                self._limits.metrics.rejected(result.name, agent)
                raise budget_exceeded(result, agent)
            reservation = result
        self._held[agent] = _Held(budgets, reservation)

    async def charge(self, agent: str, tokens: int) -> None:
        if tokens <= 0:
            return
        self._limits.metrics.charged(agent, tokens)
        held = self._held.get(agent)
        if held is None or not held.budgets:
            return
        held.used += tokens
        reserved = held.reservation.tokens if held.reservation is not None else 0
        excess = held.used - reserved - held.excess
        if excess > 0:
            held.excess += excess
            await self._limits.store.charge(held.budgets, excess, held.reservation)

    async def settle(self, agent: str) -> None:
        held = self._held.pop(agent, None)
        if held is None or held.reservation is None:
            return
        unused = held.reservation.tokens - held.used
        if unused > 0:
            await self._limits.store.charge(held.budgets, -unused, held.reservation)


def request_limit_exceeded(decision: Decision) -> RateLimitError:
    return RateLimitError(
        f"Too many requests: the {decision.name} limit ({decision.limit} at once, refilled "
        f"over {decision.window_seconds} s) is used up. Retry after "
        f"{decision.retry_after_seconds} s.",
        headers=decision.headers(),
    )


def budget_exceeded(decision: Decision, agent: str) -> RateLimitError:
    whose = f"agent {agent!r}" if decision.name.startswith("agent-") else "this caller"
    return RateLimitError(
        f"Token budget exceeded: {decision.name} of {whose} ({decision.limit} tokens per "
        f"{decision.window_seconds} s) is used up. Retry after {decision.retry_after_seconds} s.",
        code=errors.TOKEN_BUDGET_EXCEEDED,
        headers=decision.headers(),
    )
