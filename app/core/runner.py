"""Running agents: per-agent timeouts, fallback on retryable failures, metrics, token budgets.

There is exactly one retry layer, the SDK's own (``providers.<name>.max_retries``). A fallback is
a different agent answering, used only once the primary failed with a retryable error and, for a
stream, only if the primary had not sent any text yet.

With a :class:`TokenAccount`, every attempt is admitted first (its agent's budgets), and each
attempt charges only the usage its own provider reported: a fallback never charges twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

import structlog
from prometheus_client import Counter, Gauge, Histogram

from app.config import TOOLS_AGENT_TYPE, AgentSettings
from app.errors import APIError
from app.providers import (
    ChatMessage,
    ChatParams,
    ChatProvider,
    FinishReason,
    ProviderError,
    ResponseFormat,
    StreamEnd,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

from ._loop import RunLimit, Step, ToolRun
from .errors import (
    ProviderNotConfiguredError,
    ProviderRequestError,
    UpstreamError,
    from_provider_error,
    timeout_error,
)
from .metrics import AgentMetrics
from .registry import Agent, AgentRegistry

if TYPE_CHECKING:
    from app.tools import ToolServers

log = structlog.get_logger("agentsmcp.agents")

SUCCESS = "success"
CANCELLED = "cancelled"
# Characters per token when a broken stream must be charged without a provider's count.
CHARS_PER_TOKEN = 4


class TokenAccount(Protocol):
    """Token budgets of one request (see ``app.limits``)."""

    async def admit(self, agent: str, tokens: int) -> None:
        """Set ``tokens`` aside for a run of ``agent``, or raise an APIError (429) when a budget
        that applies is spent."""
        ...

    async def charge(self, agent: str, tokens: int) -> None:
        """Count ``tokens`` the provider reported for ``agent``; never raises."""
        ...

    async def settle(self, agent: str) -> None:
        """The run of ``agent`` is over: give back what it set aside and did not use."""
        ...


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Per-request options; ``None`` falls back to the agent's configuration."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None

    def params_for(self, settings: AgentSettings) -> ChatParams:
        # The agent's max_tokens is a limit: a request may ask for fewer tokens, never more.
        max_tokens = settings.max_tokens
        if self.max_tokens is not None:
            max_tokens = min(self.max_tokens, max_tokens)
        temperature = settings.temperature if self.temperature is None else self.temperature
        return ChatParams(
            max_tokens,
            temperature,
            self.top_p,
            self.stop,
            self.user,
            self.tools,
            self.tool_choice,
            self.parallel_tool_calls,
            self.response_format,
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    agent: Agent
    text: str
    finish_reason: FinishReason
    usage: Usage
    model: str
    duration: float
    tool_calls: tuple[ToolCall, ...] = ()
    # Tools agents: the run's steps, and the limit that ended it early (the run is incomplete).
    steps: tuple[Step, ...] = ()
    limit: RunLimit | None = None


class _Instruments:
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


class AgentRunner:
    def __init__(
        self,
        registry: AgentRegistry,
        metrics: AgentMetrics,
        tool_servers: ToolServers | None = None,
    ) -> None:
        self.registry = registry
        self.metrics = metrics
        self.tool_servers = tool_servers
        self._instruments = {agent.name: _Instruments(metrics, agent) for agent in registry}
        self._provider_counters: dict[tuple[str, str], Counter] = {}

    def agent(self, name: str) -> Agent:
        return self.registry.get(name)

    async def complete(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None = None,
    ) -> RunResult:
        if _loops(agent, options):
            async with ToolRun(self, agent, messages, options, account, streaming=False) as run:
                async for _ in run:
                    pass
            assert run.result is not None
            return run.result
        failed: APIError | None = None
        while True:
            try:
                return await self._complete_once(agent, messages, options, account)
            except APIError as exc:
                fallback = self._fallback(agent, exc)
                if fallback is None:
                    _name_first_failure(exc, failed)
                    raise
                failed = failed or exc
                agent = fallback

    def stream(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None = None,
    ) -> RunStream | ToolRun:
        """The run's deltas: a tools agent's :class:`ToolRun` also yields its tool-call events."""
        if _loops(agent, options):
            return ToolRun(self, agent, messages, options, account, streaming=True)
        return RunStream(self, agent, messages, options, account)

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
        reserve = estimate_tokens(prompt_chars) + options.params_for(agent.settings).max_tokens
        await account.admit(agent.name, reserve)

    def _fallback(self, agent: Agent, exc: APIError) -> Agent | None:
        """The agent that answers after ``exc``: only after a retryable upstream failure."""
        if not (isinstance(exc, UpstreamError) and exc.retryable):
            return None
        fallback = self.registry.fallback_of(agent)
        if fallback is not None:
            log.warning(
                "agent failed, falling back",
                agent=agent.name,
                fallback=fallback.name,
                code=exc.code,
            )
        return fallback

    def _provider(self, agent: Agent) -> ChatProvider:
        if agent.provider is None:
            self._instruments[agent.name].outcome(agent, "provider_not_configured").inc()
            raise ProviderNotConfiguredError(
                f"Agent {agent.name!r} is unavailable: its provider {agent.provider_name} "
                f"is not configured ({agent.key_env} is not set)."
            )
        return agent.provider

    @contextlib.contextmanager
    def _upstream_errors(self, agent: Agent) -> Iterator[None]:
        """Record a failed provider call's outcome and raise it as the API's UpstreamError."""
        try:
            yield
        except TimeoutError:
            self._provider_outcome(agent, "timeout")
            raise timeout_error(agent.name, agent.settings.timeout) from None
        except ProviderError as exc:
            self._provider_outcome(agent, exc.kind.value)
            raise from_provider_error(exc, agent.name) from exc

    def _provider_outcome(self, agent: Agent, outcome: str) -> None:
        key = (agent.provider_name, outcome)
        counter = self._provider_counters.get(key)
        if counter is None:
            counter = self.metrics.provider_requests_total.labels(*key)
            self._provider_counters[key] = counter
        counter.inc()

    def _record_tokens(self, agent: Agent, usage: Usage) -> None:
        instruments = self._instruments[agent.name]
        if usage.prompt_tokens:
            instruments.prompt_tokens.inc(usage.prompt_tokens)
        if usage.completion_tokens:
            instruments.completion_tokens.inc(usage.completion_tokens)

    async def _complete_once(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None,
    ) -> RunResult:
        provider = self._provider(agent)
        if account is not None:
            await self.admit(account, agent, messages, options)
        settings = agent.settings
        try:
            with _Attempt(self, agent) as attempt:
                with self._upstream_errors(agent):
                    async with asyncio.timeout(settings.timeout):
                        completion = await provider.complete(
                            settings.model,
                            settings.system_prompt,
                            messages,
                            options.params_for(settings),
                        )
                result = attempt.succeeded(
                    completion.text,
                    completion.finish_reason,
                    completion.usage,
                    completion.model,
                    completion.tool_calls,
                )
                if account is not None:
                    await account.charge(agent.name, completion.usage.total_tokens)
                return result
        finally:
            if account is not None:
                await account.settle(agent.name)

    async def _stream_once(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        run: RunStream,
    ) -> AsyncGenerator[str | ToolCallDelta, None]:
        provider = self._provider(agent)
        account = run.account
        if account is not None:
            await self.admit(account, agent, messages, options)
        settings = agent.settings
        ttft = self._instruments[agent.name].ttft
        deadline = asyncio.get_running_loop().time() + settings.timeout
        # Usage charged so far, the provider's latest report, and the text delivered.
        charged = 0
        reported = Usage()
        delivered_chars = 0
        try:
            with _Attempt(self, agent) as attempt:
                upstream = provider.stream(
                    settings.model, settings.system_prompt, messages, options.params_for(settings)
                )
                first = True
                try:
                    with self._upstream_errors(agent):
                        while True:
                            async with asyncio.timeout_at(deadline):
                                item = await anext(upstream)
                            if type(item) is str or isinstance(item, ToolCallDelta):
                                if first:
                                    ttft.observe(time.perf_counter() - attempt.started)
                                    first = False
                                delivered_chars += len(
                                    item.arguments if isinstance(item, ToolCallDelta) else item
                                )
                                yield item
                            elif isinstance(item, Usage):
                                reported = item
                                if account is not None and item.total_tokens > charged:
                                    await account.charge(agent.name, item.total_tokens - charged)
                                    charged = item.total_tokens
                            elif isinstance(item, StreamEnd):
                                end = item
                                break
                    result = attempt.succeeded(
                        "", end.finish_reason, end.usage, end.model, end.tool_calls
                    )
                    if account is not None and end.usage.total_tokens > charged:
                        await account.charge(agent.name, end.usage.total_tokens - charged)
                    charged = -1
                    run.result = result
                finally:
                    await upstream.aclose()
        finally:
            if account is not None and charged >= 0 and (delivered_chars or reported.total_tokens):
                # A broken stream still charges what it used: what the provider reported, and
                # an estimate of whatever it delivered without reporting it.
                used = _broken_stream_usage(reported, delivered_chars, settings, messages)
                if used > charged:
                    await account.charge(agent.name, used - charged)
            if account is not None:
                await account.settle(agent.name)


def _prompt_chars(settings: AgentSettings, messages: Sequence[ChatMessage]) -> int:
    return len(settings.system_prompt) + sum(
        len(m.content) + sum(len(call.name) + len(call.arguments) for call in m.tool_calls)
        for m in messages
    )


def _name_first_failure(error: APIError, failed: APIError | None) -> None:
    """A fallback's failure also names the agent the client asked for, and how it failed."""
    if failed is not None:
        error.message = f"{failed.message} Its fallback failed too: {error.message}"


def _loops(agent: Agent, options: RunOptions) -> bool:
    """Whether a run of ``agent`` is the tool loop. A request that brings its own tools (the
    OpenAI-compatible route) gets a single call with those, as for any agent."""
    return agent.settings.type == TOOLS_AGENT_TYPE and not options.tools


def _broken_stream_usage(
    reported: Usage, delivered_chars: int, settings: AgentSettings, messages: Sequence[ChatMessage]
) -> int:
    prompt = reported.prompt_tokens
    if not prompt and delivered_chars:
        prompt = estimate_tokens(_prompt_chars(settings, messages))
    completion = max(reported.completion_tokens, estimate_tokens(delivered_chars))
    return prompt + completion


class _Attempt:
    """One provider call of a run, plain or streamed: the in-flight gauge, its duration, and
    its outcome (success, cancelled, the API error code, or internal_error for a bug)."""

    __slots__ = ("_agent", "_instruments", "_runner", "started")

    def __init__(self, runner: AgentRunner, agent: Agent) -> None:
        self._runner = runner
        self._agent = agent
        self._instruments = runner._instruments[agent.name]
        self.started = 0.0

    def __enter__(self) -> Self:
        self._instruments.inflight.inc()
        self.started = time.perf_counter()
        return self

    def succeeded(
        self,
        text: str,
        finish_reason: FinishReason,
        usage: Usage,
        model: str,
        tool_calls: tuple[ToolCall, ...] = (),
    ) -> RunResult:
        agent = self._agent
        self._runner._provider_outcome(agent, SUCCESS)
        self._runner._record_tokens(agent, usage)
        return RunResult(
            agent=agent,
            text=text,
            finish_reason=finish_reason,
            usage=usage,
            model=model,
            duration=time.perf_counter() - self.started,
            tool_calls=tool_calls,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        agent = self._agent
        if exc is None:
            outcome = SUCCESS
        elif isinstance(exc, UpstreamError | ProviderRequestError):
            outcome = exc.code
            log.warning("agent run failed", agent=agent.name, code=exc.code, error=exc.message)
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
            outcome = CANCELLED
            self._runner._provider_outcome(agent, CANCELLED)
        else:
            outcome = "internal_error"
        instruments = self._instruments
        instruments.inflight.dec()
        instruments.duration.observe(time.perf_counter() - self.started)
        instruments.outcome(agent, outcome).inc()


class RunStream:
    """Text and tool-call deltas of a streaming run. ``agent`` is the agent answering (it
    changes if the primary fails before its first delta and a fallback takes over); ``result``
    is set once the
    stream has ended successfully (its ``text`` is empty: the deltas are the text; its
    ``tool_calls`` are the streamed calls, assembled).

    Always close it (``async with`` or :meth:`aclose`): that closes the upstream request.
    """

    def __init__(
        self,
        runner: AgentRunner,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None = None,
    ) -> None:
        self.agent = agent
        self.account = account
        self.result: RunResult | None = None
        self._runner = runner
        self._messages = messages
        self._options = options
        self._deltas = self._run()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str | ToolCallDelta:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        await self._deltas.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[str | ToolCallDelta, None]:
        runner = self._runner
        failed: APIError | None = None
        while True:
            delivered = False
            attempt = runner._stream_once(self.agent, self._messages, self._options, self)
            try:
                async with contextlib.aclosing(attempt) as deltas:
                    async for text in deltas:
                        delivered = True
                        yield text
                return
            except APIError as exc:
                fallback = None if delivered else runner._fallback(self.agent, exc)
                if fallback is None:
                    _name_first_failure(exc, failed)
                    raise
                failed = failed or exc
                self.agent = fallback
