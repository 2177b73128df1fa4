"""The agent loop of tools agents (``type: tools``): offer the tools of the agent's tool servers,
run the calls the model asks for (in parallel), feed the results back, and repeat until the model
answers or a limit is hit.

Limits: ``max_steps`` model calls (a run still asking for tools after the last one ends
incomplete, code ``max_steps_exceeded``), ``tool_timeout_seconds`` per call (the model gets a
tool error), ``max_tool_result_chars`` per result (cut), and the agent's ``timeout`` for the whole
run (504 ``upstream_timeout``). Tool server failures never end a run: the model sees them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import structlog

from app.errors import APIError
from app.providers import ChatMessage, FinishReason, StreamEnd, ToolCall, Usage
from app.tools import Toolbox, ToolOutcome, ToolServerError, metric_tool

from .errors import ProviderRequestError, UpstreamError, timeout_error
from .registry import Agent

if TYPE_CHECKING:
    from .runner import AgentRunner, RunOptions, TokenAccount

log = structlog.get_logger("agentsmcp.agents")

MAX_STEPS_CODE = "max_steps_exceeded"


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call of a step. ``tool_server`` is None for a tool the model made up."""

    id: str
    name: str
    tool_server: str | None
    arguments: str
    outcome: ToolOutcome
    duration: float
    error: str | None = None
    result_chars: int = 0
    truncated: bool = False


@dataclass(slots=True)
class Step:
    """One model call of a run, and the tool calls it asked for."""

    index: int
    finish_reason: FinishReason
    usage: Usage
    model: str
    duration: float
    tool_calls: list[ToolCallRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    step: int
    id: str
    name: str
    tool_server: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A finished call and ``output``, the text fed back to the model as its result."""

    step: int
    record: ToolCallRecord
    output: str


@dataclass(frozen=True, slots=True)
class RunLimit:
    """Why a run stopped before the model's answer (the run is ``incomplete``)."""

    code: str
    message: str


RunEvent = str | ToolCallStarted | ToolCallFinished


class ToolRun:
    """A run of a tools agent: text deltas (``str``) and tool-call events, streamed or not.
    ``steps`` grows as the run goes; ``result`` is set once it ended (with ``limit`` set when a
    limit ended it). Always close it (``async with`` or :meth:`aclose`)."""

    def __init__(
        self,
        runner: AgentRunner,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None,
        *,
        streaming: bool,
    ) -> None:
        from .runner import RunResult

        self.agent = agent
        self.account = account
        self.result: RunResult | None = None
        self.steps: list[Step] = []
        self._runner = runner
        self._messages = list(messages)
        self._options = options
        self._streaming = streaming
        self._events = self._run()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> RunEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[RunEvent, None]:
        runner = self._runner
        agent = self.agent
        servers = runner.tool_servers
        if servers is None:
            raise RuntimeError("tools agents need the runner's tool servers")
        provider = runner._provider(agent)
        instruments = runner._instruments[agent.name]
        settings = agent.settings
        toolbox = servers.toolbox(agent.name, settings.tool_servers, settings.max_tool_result_chars)
        deadline = asyncio.get_running_loop().time() + settings.timeout
        started = time.perf_counter()
        outcome = "internal_error"
        instruments.inflight.inc()
        try:
            async with asyncio.timeout_at(deadline):
                tools = tuple(await toolbox.load())
            if toolbox.unavailable:
                log.warning(
                    "tool servers unavailable; the run goes on without their tools",
                    agent=agent.name,
                    tool_servers=toolbox.unavailable,
                )
            params = dataclasses.replace(self._options.params_for(settings), tools=tools)
            # Reservations count the tool definitions too.
            self._options = dataclasses.replace(self._options, tools=tools)
            messages = self._messages
            texts: list[str] = []
            total = Usage()
            for index in range(1, settings.max_steps + 1):
                step_started = time.perf_counter()
                step_text: list[str] = []
                async for item in self._model_call(provider, messages, params, deadline):
                    if isinstance(item, StreamEnd):
                        end = item
                    else:
                        step_text.append(item)
                        texts.append(item)
                        yield item
                runner._provider_outcome(agent, "success")
                runner._record_tokens(agent, end.usage)
                total = Usage(
                    total.prompt_tokens + end.usage.prompt_tokens,
                    total.completion_tokens + end.usage.completion_tokens,
                )
                step = Step(
                    index,
                    end.finish_reason,
                    end.usage,
                    end.model,
                    time.perf_counter() - step_started,
                )
                self.steps.append(step)
                calls = end.tool_calls
                last = index == settings.max_steps
                if not calls or last:
                    limit = None
                    if calls:
                        limit = RunLimit(
                            MAX_STEPS_CODE,
                            f"Agent {agent.name!r} reached its max_steps ({settings.max_steps})"
                            " while the model still asked for tools; those calls were not run.",
                        )
                    self.result = self._result(end, "".join(texts), total, started, limit)
                    outcome = MAX_STEPS_CODE if limit else "success"
                    return
                messages = [*messages, ChatMessage("assistant", "".join(step_text), calls)]
                for call in calls:
                    tool = toolbox.tool(call.name)
                    yield ToolCallStarted(
                        index, call.id, call.name, tool.server if tool else None, call.arguments
                    )
                outputs: dict[str, str] = {}
                async for record, output in self._call_all(toolbox, calls, deadline):
                    outputs[record.id] = output
                    step.tool_calls.append(record)
                    yield ToolCallFinished(index, record, output)
                # Results go back in the order of the calls, each as a tool message: tool output
                # is data for the model, never instructions or system text.
                messages = [
                    *messages,
                    *(ChatMessage("tool", outputs[c.id], tool_call_id=c.id) for c in calls),
                ]
                step.duration = time.perf_counter() - step_started
        except TimeoutError:
            outcome = "upstream_timeout"
            runner._provider_outcome(agent, "timeout")
            raise timeout_error(agent.name, settings.timeout) from None
        except (UpstreamError, ProviderRequestError) as exc:
            outcome = exc.code
            log.warning("agent run failed", agent=agent.name, code=exc.code, error=exc.message)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        except APIError as exc:
            outcome = exc.code
            raise
        finally:
            instruments.inflight.dec()
            instruments.duration.observe(time.perf_counter() - started)
            instruments.outcome(agent, outcome).inc()
            servers.metrics.run_steps.labels(agent.name).observe(len(self.steps))
            await toolbox.aclose()

    def _result(
        self, end: StreamEnd, text: str, total: Usage, started: float, limit: RunLimit | None
    ) -> Any:
        from .runner import RunResult

        return RunResult(
            agent=self.agent,
            text=text,
            finish_reason=end.finish_reason,
            usage=total,
            model=end.model,
            duration=time.perf_counter() - started,
            steps=tuple(self.steps),
            limit=limit,
        )

    async def _model_call(
        self, provider: Any, messages: list[ChatMessage], params: Any, deadline: float
    ) -> AsyncGenerator[str | StreamEnd, None]:
        """One model call: its text, then a StreamEnd with the assembled tool calls. Its usage
        is charged to the account as the provider reports it."""
        from .runner import _broken_stream_usage

        runner, agent, account = self._runner, self.agent, self.account
        settings = agent.settings
        if account is not None:
            await runner.admit(account, agent, messages, self._options)
        # Charged so far, the provider's latest usage report, the text delivered, and whether
        # the call finished (a broken one is charged like a broken chat stream).
        charged, reported, delivered, finished = 0, Usage(), 0, False
        try:
            with runner._upstream_errors(agent):
                if not self._streaming:
                    async with asyncio.timeout_at(deadline):
                        completion = await provider.complete(
                            settings.model, settings.system_prompt, messages, params
                        )
                    if completion.text:
                        yield completion.text
                    end = StreamEnd(
                        completion.finish_reason,
                        completion.usage,
                        completion.model,
                        completion.tool_calls,
                    )
                else:
                    upstream = provider.stream(
                        settings.model, settings.system_prompt, messages, params
                    )
                    try:
                        while True:
                            async with asyncio.timeout_at(deadline):
                                item = await anext(upstream)
                            if type(item) is str:
                                delivered += len(item)
                                yield item
                            elif isinstance(item, Usage):
                                reported = item
                                if account is not None and item.total_tokens > charged:
                                    await account.charge(agent.name, item.total_tokens - charged)
                                    charged = item.total_tokens
                            elif isinstance(item, StreamEnd):
                                end = item
                                break
                    finally:
                        await upstream.aclose()
            finished = True
            if account is not None and end.usage.total_tokens > charged:
                await account.charge(agent.name, end.usage.total_tokens - charged)
            yield end
        finally:
            if account is not None:
                if not finished and (delivered or reported.total_tokens):
                    used = _broken_stream_usage(reported, delivered, settings, messages)
                    if used > charged:
                        await account.charge(agent.name, used - charged)
                await account.settle(agent.name)

    async def _call_all(
        self, toolbox: Toolbox, calls: Sequence[ToolCall], deadline: float
    ) -> AsyncGenerator[tuple[ToolCallRecord, str], None]:
        """Run the calls in parallel; records as they finish."""
        pending = {asyncio.ensure_future(self._call(toolbox, call, deadline)) for call in calls}
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def _call(
        self, toolbox: Toolbox, call: ToolCall, deadline: float
    ) -> tuple[ToolCallRecord, str]:
        agent = self.agent
        tool = toolbox.tool(call.name)
        server, tool_label = metric_tool(tool)
        started = time.perf_counter()
        error: str | None = None
        chars, truncated, attempted = 0, False, False
        text = ""
        outcome: ToolOutcome
        if tool is None:
            outcome = "rejected"
            error = f"There is no tool named {call.name[:64]!r}; call only the tools offered."
        else:
            arguments, problem = _arguments(call.arguments)
            if problem is None:
                problem = tool.invalid_arguments(arguments)
            if problem is not None:
                outcome = "invalid_arguments"
                error = (
                    f"Invalid arguments for tool {call.name!r}: {problem}. Fix them to match the"
                    " tool's input schema and call it again."
                )
            else:
                remaining = deadline - asyncio.get_running_loop().time()
                timeout = max(min(agent.settings.tool_timeout_seconds, remaining), 0.001)
                attempted = True
                try:
                    output = await toolbox.call(tool, arguments, timeout)
                except ToolServerError as exc:
                    outcome = "timeout" if exc.outcome == "timeout" else "error"
                    error = exc.message
                else:
                    chars, truncated, text = output.chars, output.truncated, output.text
                    if output.is_error:
                        outcome, error = "error", f"The tool reported an error: {output.text}"
                    else:
                        outcome = "ok"
        duration = time.perf_counter() - started
        metrics = toolbox.metrics
        metrics.call(agent.name, server, tool_label, outcome, duration if attempted else None)
        if outcome != "ok":
            # The error names the tool server and the problem, never the server's token; a
            # tool's own error text is left out of the log (it is the tool's output).
            log.info(
                "tool call failed",
                agent=agent.name,
                tool_server=server,
                tool=tool_label,
                outcome=outcome,
                error=None if text else error,
            )
        record = ToolCallRecord(
            call.id,
            call.name,
            tool.server if tool else None,
            call.arguments,
            outcome,
            duration,
            None if outcome == "ok" else error,
            chars,
            truncated,
        )
        return record, text if outcome == "ok" else f"Error: {error}"


def _arguments(text: str) -> tuple[Any, str | None]:
    """The call's arguments: a JSON object (an empty text is no arguments)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return None, "the arguments are not valid JSON"
    if not isinstance(value, dict):
        return None, "the arguments must be a JSON object"
    return value, None
