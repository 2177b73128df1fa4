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
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING

import structlog

from app.config import TOOLS_AGENT_TYPE, AccessRule
from app.errors import APIError
from app.observability import tracing
from app.providers import ChatMessage, StreamEnd, ToolCallDelta

from ._loop import ToolRun
from ._tracing import RunSpan, SpannedRun, invoke_span
from .access import AgentAccess
from .errors import UpstreamError
from .metering import Metering
from .metrics import AgentMetrics
from .registry import Agent, AgentRegistry
from .run_types import RunOptions, RunResult, TokenAccount

if TYPE_CHECKING:
    from app.tools import ToolServers

log = structlog.get_logger("agentsmcp.agents")


class AgentRunner:
    def __init__(
        self,
        registry: AgentRegistry,
        metrics: AgentMetrics,
        tool_servers: ToolServers | None = None,
        default_access: Sequence[AccessRule] | None = None,
    ) -> None:
        self.registry = registry
        # Who may use which agent: front doors ask it (through app.core.gate), never the registry.
        self.access = AgentAccess(registry, default_access)
        self.metrics = metrics
        self.tool_servers = tool_servers
        self.metering = Metering(registry, metrics)

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
            async with self._tool_run(agent, messages, options, account, streaming=False) as run:
                async for _ in run:
                    pass
            assert run.result is not None
            return run.result
        chain = FallbackChain(self.registry, agent)
        span = invoke_span(agent, options.conversation_id)
        with tracing.current(span):
            while True:
                try:
                    result = await self._complete_once(chain.agent, messages, options, account)
                    break
                except APIError as exc:
                    try:
                        chain.fall_back(exc)
                    except BaseException:
                        if span is not None:
                            tracing.end_span(span, tracing.error_type(exc))
                        raise
                except BaseException as exc:
                    if span is not None:
                        tracing.end_span(span, tracing.error_type(exc))
                    raise
        if span is not None:
            span.end()
        return result

    def stream(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None = None,
    ) -> RunStream | ToolRun:
        """The run's deltas: a tools agent's :class:`ToolRun` also yields its tool-call events."""
        if _loops(agent, options):
            return self._tool_run(agent, messages, options, account, streaming=True)
        return RunStream(self, agent, messages, options, account)

    def _tool_run(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None,
        *,
        streaming: bool,
    ) -> ToolRun:
        if self.tool_servers is None:
            raise RuntimeError("tools agents need the runner's tool servers")
        return ToolRun(
            self.metering, self.tool_servers, agent, messages, options, account, streaming=streaming
        )

    async def _complete_once(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None,
    ) -> RunResult:
        """One agent's attempt at a plain single-call run."""
        metering = self.metering
        provider = metering.provider(agent)
        async with metering.reserved(account, agent, messages, options) as reserved:
            deadline = asyncio.get_running_loop().time() + agent.settings.timeout
            with metering.attempt(agent) as attempt:
                text, end = await metering.complete(reserved, provider, deadline)
                return _result(agent, text, end, attempt.elapsed())

    async def _stream_once(
        self,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None,
    ) -> AsyncGenerator[str | ToolCallDelta | RunResult, None]:
        """One agent's attempt at a streamed single-call run: its deltas, then its result (whose
        text is empty: the deltas are the text; whose tool calls are the streamed calls,
        assembled)."""
        metering = self.metering
        provider = metering.provider(agent)
        async with metering.reserved(account, agent, messages, options) as reserved:
            deadline = asyncio.get_running_loop().time() + agent.settings.timeout
            with metering.attempt(agent) as attempt:
                call = metering.stream(reserved, provider, deadline, ttft_since=attempt.started)
                async with contextlib.aclosing(call) as items:
                    async for item in items:
                        if isinstance(item, StreamEnd):
                            end = item
                        else:
                            yield item
                result = _result(agent, "", end, attempt.elapsed())
        yield result


def _result(agent: Agent, text: str, end: StreamEnd, duration: float) -> RunResult:
    return RunResult(agent, text, end.finish_reason, end.usage, end.model, duration, end.tool_calls)


class FallbackChain:
    """The agents a single-call run tries in turn: ``agent``, then its fallback once it failed
    with a retryable error, and so on. An error raised after a fallback names every attempt:
    the client asked for the first agent, and its failure is the cause."""

    __slots__ = ("_earlier", "_registry", "agent")

    def __init__(self, registry: AgentRegistry, agent: Agent) -> None:
        self._registry = registry
        self.agent = agent
        # What the failed attempts before ``agent`` said, as the error's message begins.
        self._earlier = ""

    def fall_back(self, exc: APIError, *, delivered: bool = False) -> None:
        """Move on to the fallback after ``exc``, or raise ``exc`` (naming the attempts before
        it) when there is none: ``exc`` is not retryable, or the agent already ``delivered``
        text."""
        agent = self.agent
        retryable = isinstance(exc, UpstreamError) and exc.retryable and not delivered
        fallback = self._registry.fallback_of(agent) if retryable else None
        if fallback is None:
            if self._earlier:
                exc.message = self._earlier + exc.message
                exc.args = (exc.message,)
            raise exc
        log.warning(
            "agent failed, falling back", agent=agent.name, fallback=fallback.name, code=exc.code
        )
        self._earlier += (
            f"{exc.message} (error code: {exc.code}) Its fallback, agent {fallback.name!r},"
            " failed too: "
        )
        self.agent = fallback


def _loops(agent: Agent, options: RunOptions) -> bool:
    """Whether a run of ``agent`` is the tool loop. A request that brings its own tools (the
    OpenAI-compatible route) gets a single call with those, as for any agent."""
    return agent.settings.type == TOOLS_AGENT_TYPE and not options.tools


class RunStream(SpannedRun[str | ToolCallDelta | RunResult]):
    """Text and tool-call deltas of a streaming run. ``agent`` is the agent answering (it
    changes if the primary fails before its first delta and a fallback takes over); ``result``
    is set once the stream has ended successfully (its ``text`` is empty: the deltas are the
    text; its ``tool_calls`` are the streamed calls, assembled).

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
        self._chain = FallbackChain(runner.registry, agent)
        self._delivered = False
        self._items = self._attempt()
        self._span = RunSpan.start(agent, options.conversation_id)

    async def __anext__(self) -> str | ToolCallDelta:
        # Fallback is handled here rather than in a generator around the attempts: one
        # generator less for every delta to pass through.
        while True:
            try:
                if self._span is None:
                    item = await self._items.__anext__()
                else:
                    item = await self._span.around(self._items.__anext__(), recoverable=(APIError,))
            except APIError as exc:
                try:
                    self._chain.fall_back(exc, delivered=self._delivered)
                except APIError:
                    if self._span is not None:
                        self._span.end(exc)
                    raise
                self.agent = self._chain.agent
                self._items = self._attempt()
                continue
            if isinstance(item, RunResult):
                self.result = item
            else:
                self._delivered = True
                return item

    def _attempt(self) -> AsyncGenerator[str | ToolCallDelta | RunResult, None]:
        return self._runner._stream_once(self.agent, self._messages, self._options, self.account)
