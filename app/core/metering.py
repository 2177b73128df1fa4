"""Provider calls of the agents, metered and charged, and the bookkeeping of a run's outcome.

One streaming loop (:meth:`Metering.stream`) serves every streamed model call of every kind of
run, and :meth:`Metering.complete` every plain one: they enforce the run's deadline, record the
provider's outcome and the tokens, and charge the request's token account as the provider
reports usage. A broken stream still charges what it used: what the provider reported, and an
estimate of what it delivered without reporting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import structlog
from prometheus_client import Counter, Gauge, Histogram

from app.config import AgentSettings
from app.errors import APIError
from app.observability import tracing
from app.providers import (
    ChatMessage,
    ChatProvider,
    ProviderError,
    StreamEnd,
    ToolCallDelta,
    Usage,
)

from ._deadline import CallDeadline
from ._tracing import chat_ended, chat_span
from .errors import (
    ProviderNotConfiguredError,
    ProviderRequestError,
    UpstreamError,
    from_provider_error,
    timeout_error,
)
from .metrics import AgentMetrics
from .registry import Agent, AgentRegistry
from .run_types import RunOptions, TokenAccount

log = structlog.get_logger("agentsmcp.agents")

SUCCESS = "success"
CANCELLED = "cancelled"
INTERNAL_ERROR = "internal_error"
# Characters per token when a broken stream must be charged without a provider's count.
CHARS_PER_TOKEN = 4

# What a provider call yields: its deltas, then its end.
CallItem = str | ToolCallDelta | StreamEnd


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


class AgentInstruments:
    """Label children of one agent, bound once so the hot path does no label lookups."""

    __slots__ = (
        "completion_tokens",
        "duration",
        "inflight",
        "outcomes",
        "prompt_tokens",
        "runs_total",
        "ttft",
    )

    def __init__(self, metrics: AgentMetrics, agent: Agent) -> None:
        self.inflight: Gauge = metrics.inflight_runs.labels(agent.name)
        self.duration: Histogram = metrics.run_duration.labels(agent.name)
        self.ttft: Histogram = metrics.time_to_first_token.labels(agent.name)
        # The configured model, not the one a response names: label values stay bounded.
        labels = (agent.name, agent.provider_name, agent.settings.model)
        self.prompt_tokens: Counter = metrics.tokens_total.labels(*labels, "prompt")
        self.completion_tokens: Counter = metrics.tokens_total.labels(*labels, "completion")
        self.runs_total = metrics.runs_total
        self.outcomes: dict[str, Counter] = {}

    def outcome(self, agent: Agent, outcome: str) -> Counter:
        counter = self.outcomes.get(outcome)
        if counter is None:
            counter = self.runs_total.labels(agent.name, agent.provider_name, outcome)
            self.outcomes[outcome] = counter
        return counter


class RunAttempt:
    """One agent's attempt at a run (a fallback's is another attempt): the in-flight gauge, its
    duration, and its outcome: success (or the limit that ended it, :meth:`ended_by`),
    cancelled, the API error's code, or internal_error for a bug."""

    __slots__ = ("_agent", "_ended_by", "_instruments", "started")

    def __init__(self, instruments: AgentInstruments, agent: Agent) -> None:
        self._instruments = instruments
        self._agent = agent
        self._ended_by = SUCCESS
        self.started = 0.0

    def __enter__(self) -> Self:
        self._instruments.inflight.inc()
        self.started = time.perf_counter()
        return self

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def ended_by(self, code: str) -> None:
        """The run ended without an error but short of the model's answer (``code``)."""
        self._ended_by = code

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        agent = self._agent
        if exc is None:
            outcome = self._ended_by
        elif isinstance(exc, APIError):
            outcome = exc.code
            if isinstance(exc, UpstreamError | ProviderRequestError):
                log.warning("agent run failed", agent=agent.name, code=exc.code, error=exc.message)
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
            outcome = CANCELLED
        else:
            outcome = INTERNAL_ERROR
        instruments = self._instruments
        instruments.inflight.dec()
        instruments.duration.observe(time.perf_counter() - self.started, tracing.exemplar())
        instruments.outcome(agent, outcome).inc()


class Metering:
    """The agents' provider calls, metered and charged, and their runs' bookkeeping."""

    def __init__(self, registry: AgentRegistry, metrics: AgentMetrics) -> None:
        self.metrics = metrics
        self._instruments = {agent.name: AgentInstruments(metrics, agent) for agent in registry}
        self._provider_counters: dict[tuple[str, str], Counter] = {}

    def provider(self, agent: Agent) -> ChatProvider:
        """``agent``'s provider, or a 503 when its API key is not set."""
        if agent.provider is None:
            self._instruments[agent.name].outcome(agent, "provider_not_configured").inc()
            raise ProviderNotConfiguredError(
                f"Agent {agent.name!r} is unavailable: its provider {agent.provider_name} "
                f"is not configured ({agent.key_env} is not set)."
            )
        return agent.provider

    def attempt(self, agent: Agent) -> RunAttempt:
        return RunAttempt(self._instruments[agent.name], agent)

    async def admit(
        self,
        account: TokenAccount,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
    ) -> None:
        """Admit a run of ``agent`` against ``account``'s budgets, reserving the most it can
        use: an estimate of the prompt plus its max tokens."""
        prompt_chars = _prompt_chars(agent.settings, messages) + sum(
            len(tool.name) + len(tool.description or "") + len(json.dumps(tool.parameters))
            for tool in options.tools
        )
        reserve = estimate_tokens(prompt_chars) + options.max_tokens_for(agent.settings)
        await account.admit(agent.name, reserve)

    def reserved(
        self,
        account: TokenAccount | None,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
    ) -> Reservation:
        """A model call admitted against ``account`` (when there is one), settled after it."""
        return Reservation(self, account, agent, messages, options)

    async def complete(
        self, reserved: Reservation, provider: ChatProvider, deadline: float
    ) -> tuple[str, StreamEnd]:
        """One plain (not streamed) model call of ``reserved``: its text and its end."""
        agent, messages, options, account = reserved.fields()
        settings = agent.settings
        params = options.params_for(settings)
        span = chat_span(agent, messages, streaming=False)
        try:
            with self._upstream_errors(agent), tracing.current(span):
                async with asyncio.timeout_at(deadline):
                    completion = await provider.complete(
                        settings.model, settings.system_prompt, messages, params
                    )
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self.provider_outcome(agent, CANCELLED)
            if span is not None:
                tracing.end_span(span, tracing.error_type(exc))
            raise
        end = StreamEnd(
            completion.finish_reason, completion.usage, completion.model, completion.tool_calls
        )
        if span is not None:
            chat_ended(span, end, completion.text)
            span.end()
        await self._succeeded(agent, account, 0, end)
        return completion.text, end

    async def stream(
        self,
        reserved: Reservation,
        provider: ChatProvider,
        deadline: float,
        *,
        ttft_since: float | None = None,
    ) -> AsyncGenerator[CallItem, None]:
        """One streamed model call of ``reserved``: its text and tool-call deltas, then its
        :class:`StreamEnd`. With ``ttft_since``, the first delta's delay since then is the time
        to first token."""
        agent, messages, options, account = reserved.fields()
        settings = agent.settings
        params = options.params_for(settings)
        # Charged so far, the provider's latest usage report, and the characters delivered.
        charged, reported, delivered = 0, Usage(), 0
        finished = False
        span = chat_span(agent, messages, streaming=True)
        # Current while the upstream request is sent (for the first item): the request is the
        # chat span's child. Never current across a yield: the consumer's context is its own.
        sending = span
        timer = CallDeadline(deadline)
        try:
            with self._upstream_errors(agent):
                upstream = provider.stream(settings.model, settings.system_prompt, messages, params)
                try:
                    while True:
                        if sending is None:
                            item = await timer.next(upstream)
                        else:
                            with tracing.current(sending):
                                item = await timer.next(upstream)
                            sending = None
                        if type(item) is str or isinstance(item, ToolCallDelta):
                            if ttft_since is not None:
                                self._ttft(agent, ttft_since)
                                ttft_since = None
                            delivered += len(
                                item.arguments if isinstance(item, ToolCallDelta) else item
                            )
                            yield item
                        elif isinstance(item, Usage):
                            reported = item
                            charged = await _charge(account, agent, charged, item)
                        elif isinstance(item, StreamEnd):
                            end = item
                            break
                finally:
                    await upstream.aclose()
            finished = True
            if span is not None:
                chat_ended(span, end, None)
            await self._succeeded(agent, account, charged, end)
            yield end
        except (asyncio.CancelledError, GeneratorExit):
            if not finished:
                self.provider_outcome(agent, CANCELLED)
            raise
        finally:
            timer.close()
            if span is not None:
                tracing.end_span(span, None if finished else tracing.error_type(sys.exc_info()[1]))
            if not finished and account is not None:
                used = _broken_call_usage(agent, messages, reported, delivered)
                if used > charged:
                    await account.charge(agent.name, used - charged)

    async def _succeeded(
        self, agent: Agent, account: TokenAccount | None, charged: int, end: StreamEnd
    ) -> None:
        """A call ended: its outcome, its tokens, and the charge of what is not charged yet."""
        self.provider_outcome(agent, SUCCESS)
        self._record_tokens(agent, end.usage)
        await _charge(account, agent, charged, end.usage)

    def provider_outcome(self, agent: Agent, outcome: str) -> None:
        key = (agent.provider_name, outcome)
        counter = self._provider_counters.get(key)
        if counter is None:
            counter = self.metrics.provider_requests_total.labels(*key)
            self._provider_counters[key] = counter
        counter.inc()

    @contextlib.contextmanager
    def _upstream_errors(self, agent: Agent) -> Iterator[None]:
        """Record a failed provider call's outcome and raise it as the API's UpstreamError."""
        try:
            yield
        except TimeoutError:
            self.provider_outcome(agent, "timeout")
            raise timeout_error(agent.name, agent.settings.timeout) from None
        except ProviderError as exc:
            self.provider_outcome(agent, exc.kind.value)
            raise from_provider_error(exc, agent.name) from exc

    def _ttft(self, agent: Agent, since: float) -> None:
        self._instruments[agent.name].ttft.observe(time.perf_counter() - since)

    def _record_tokens(self, agent: Agent, usage: Usage) -> None:
        instruments = self._instruments[agent.name]
        if usage.prompt_tokens:
            instruments.prompt_tokens.inc(usage.prompt_tokens)
        if usage.completion_tokens:
            instruments.completion_tokens.inc(usage.completion_tokens)


@dataclass(slots=True)
class Reservation:
    """``async with``: the tokens a model call may use, set aside on entry and settled on exit
    (a class rather than an async generator: it is on every call's path)."""

    metering: Metering
    account: TokenAccount | None
    agent: Agent
    messages: Sequence[ChatMessage]
    options: RunOptions

    def fields(
        self,
    ) -> tuple[Agent, Sequence[ChatMessage], RunOptions, TokenAccount | None]:
        return self.agent, self.messages, self.options, self.account

    async def __aenter__(self) -> Self:
        if self.account is not None:
            await self.metering.admit(self.account, self.agent, self.messages, self.options)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.account is not None:
            await self.account.settle(self.agent.name)


async def _charge(account: TokenAccount | None, agent: Agent, charged: int, usage: Usage) -> int:
    """Charge what ``usage`` (a provider's running total) adds to ``charged``; the new total."""
    if account is not None and usage.total_tokens > charged:
        await account.charge(agent.name, usage.total_tokens - charged)
        return usage.total_tokens
    return charged


def _broken_call_usage(
    agent: Agent, messages: Sequence[ChatMessage], reported: Usage, delivered: int
) -> int:
    """What a call that broke off used: what the provider reported, and an estimate of what it
    delivered without reporting it."""
    prompt = reported.prompt_tokens
    if not prompt and delivered:
        prompt = estimate_tokens(_prompt_chars(agent.settings, messages))
    return prompt + max(reported.completion_tokens, estimate_tokens(delivered))


def _prompt_chars(settings: AgentSettings, messages: Sequence[ChatMessage]) -> int:
    return len(settings.system_prompt) + sum(
        len(m.content) + sum(len(call.name) + len(call.arguments) for call in m.tool_calls)
        for m in messages
    )
