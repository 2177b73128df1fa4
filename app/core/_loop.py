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
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import structlog

from app.observability import tracing
from app.providers import ChatMessage, ChatProvider, StreamEnd, ToolCall, Usage
from app.tools import Toolbox, ToolCallOutcome, ToolServerError, ToolServers, metric_tool

from ._tracing import RunSpan, SpannedRun, tool_span
from .errors import timeout_error
from .metering import Metering
from .registry import Agent
from .run_types import (
    RunEvent,
    RunLimit,
    RunOptions,
    RunResult,
    Step,
    TokenAccount,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
)

log = structlog.get_logger("agentsmcp.agents")

MAX_STEPS_CODE = "max_steps_exceeded"


class ToolRun(SpannedRun[RunEvent]):
    """A run of a tools agent: text deltas (``str``) and tool-call events, streamed or not.
    ``steps`` grows as the run goes; ``result`` is set once it ended (with ``limit`` set when a
    limit ended it). Always close it (``async with`` or :meth:`aclose`)."""

    def __init__(
        self,
        metering: Metering,
        tool_servers: ToolServers,
        agent: Agent,
        messages: Sequence[ChatMessage],
        options: RunOptions,
        account: TokenAccount | None,
        *,
        streaming: bool,
    ) -> None:
        self.agent = agent
        self.account = account
        self.result: RunResult | None = None
        self.steps: list[Step] = []
        self._metering = metering
        self._servers = tool_servers
        self._messages = list(messages)
        self._options = options
        self._streaming = streaming
        self._items = self._run()
        self._span = RunSpan.start(agent, options.conversation_id)

    async def __anext__(self) -> RunEvent:
        if self._span is None:
            return await self._items.__anext__()
        return await self._span.around(self._items.__anext__())

    async def _run(self) -> AsyncGenerator[RunEvent, None]:
        agent, settings = self.agent, self.agent.settings
        provider = self._metering.provider(agent)
        toolbox = self._servers.toolbox(
            agent.name, settings.tool_servers, settings.max_tool_result_chars, settings.tools
        )
        deadline = asyncio.get_running_loop().time() + settings.timeout
        try:
            with self._metering.attempt(agent) as attempt:
                await self._offer_tools(toolbox, deadline)
                async for event in self._steps(provider, toolbox, deadline, attempt.started):
                    yield event
                if self.result is not None and self.result.limit is not None:
                    attempt.ended_by(self.result.limit.code)
        finally:
            self._servers.metrics.run_steps.labels(agent.name).observe(len(self.steps))
            await toolbox.aclose()

    async def _offer_tools(self, toolbox: Toolbox, deadline: float) -> None:
        """Load the agent's tools; the model calls offer them, and reservations count them."""
        agent = self.agent
        try:
            async with asyncio.timeout_at(deadline):
                tools = tuple(await toolbox.load())
        except TimeoutError:
            self._metering.provider_outcome(agent, "timeout")
            raise timeout_error(agent.name, agent.settings.timeout) from None
        if toolbox.unavailable:
            log.warning(
                "tool servers unavailable; the run goes on without their tools",
                agent=agent.name,
                tool_servers=toolbox.unavailable,
            )
        self._options = self._options.with_tools(tools)

    async def _steps(
        self, provider: ChatProvider, toolbox: Toolbox, deadline: float, started: float
    ) -> AsyncGenerator[RunEvent, None]:
        """Model calls and their tool calls until the model answers or max_steps is reached."""
        agent, max_steps = self.agent, self.agent.settings.max_steps
        messages = self._messages
        texts: list[str] = []
        total = Usage()
        for index in range(1, max_steps + 1):
            step_started = time.perf_counter()
            step_text: list[str] = []
            async for item in self._model_call(provider, messages, deadline):
                if isinstance(item, StreamEnd):
                    end = item
                else:
                    step_text.append(item)
                    texts.append(item)
                    yield item
            total = Usage(
                total.prompt_tokens + end.usage.prompt_tokens,
                total.completion_tokens + end.usage.completion_tokens,
            )
            step = Step(
                index, end.finish_reason, end.usage, end.model, time.perf_counter() - step_started
            )
            self.steps.append(step)
            calls = end.tool_calls
            if not calls or index == max_steps:
                limit = None
                if calls:
                    limit = RunLimit(
                        MAX_STEPS_CODE,
                        f"Agent {agent.name!r} reached its max_steps ({max_steps})"
                        " while the model still asked for tools; those calls were not run.",
                    )
                self.result = self._result(end, "".join(texts), total, started, limit)
                return
            messages = [*messages, ChatMessage("assistant", "".join(step_text), calls)]
            outputs: dict[str, str] = {}
            async for event in self._tool_calls(toolbox, step, calls, outputs, deadline):
                yield event
            # Results go back in the order of the calls, each as a tool message: tool output
            # is data for the model, never instructions or system text.
            messages = [
                *messages,
                *(ChatMessage("tool", outputs[c.id], tool_call_id=c.id) for c in calls),
            ]
            step.duration = time.perf_counter() - step_started

    def _result(
        self, end: StreamEnd, text: str, total: Usage, started: float, limit: RunLimit | None
    ) -> RunResult:
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
        self, provider: ChatProvider, messages: list[ChatMessage], deadline: float
    ) -> AsyncGenerator[str | StreamEnd, None]:
        """One model call: its text, then a StreamEnd with the assembled tool calls."""
        metering, agent, account, options = self._metering, self.agent, self.account, self._options
        async with metering.reserved(account, agent, messages, options) as reserved:
            if not self._streaming:
                text, end = await metering.complete(reserved, provider, deadline)
                if text:
                    yield text
                yield end
                return
            call = metering.stream(reserved, provider, deadline)
            async with contextlib.aclosing(call) as items:
                async for item in items:
                    # Tool-call deltas are left out: the loop runs the assembled calls.
                    if type(item) is str or isinstance(item, StreamEnd):
                        yield item

    async def _tool_calls(
        self,
        toolbox: Toolbox,
        step: Step,
        calls: Sequence[ToolCall],
        outputs: dict[str, str],
        deadline: float,
    ) -> AsyncGenerator[RunEvent, None]:
        """Run the step's tool calls: their events, their records in ``step`` and their outputs
        in ``outputs`` (by call id)."""
        for call in calls:
            tool = toolbox.tool(call.name)
            yield ToolCallStarted(
                step.index, call.id, call.name, tool.server if tool else None, call.arguments
            )
        async for record, output in self._call_all(toolbox, calls, deadline):
            outputs[record.id] = output
            step.tool_calls.append(record)
            yield ToolCallFinished(step.index, record, output)

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
        outcome: ToolCallOutcome
        span = None
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
                span = tool_span(agent, call.name, call.id, call.arguments)
                try:
                    with tracing.current(span):
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
        if span is not None:
            tracing.end_span(span, None if outcome == "ok" else outcome)
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
