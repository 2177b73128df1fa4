"""The core's spans (OpenTelemetry GenAI conventions): ``invoke_agent <agent>`` per run,
``chat <model>`` per model call (a fallback's call is another), ``execute_tool <tool>`` per
tool call. Every front door inherits them. Each builder returns None when tracing is off.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Sequence
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from app.observability import tracing
from app.providers import ChatMessage, StreamEnd

from .registry import Agent

if TYPE_CHECKING:
    from opentelemetry.trace import Span

T = TypeVar("T")


def chat_span(agent: Agent, messages: Sequence[ChatMessage], *, streaming: bool) -> Span | None:
    if not tracing.enabled():
        return None
    settings = agent.settings
    attributes: dict[str, tracing.AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": agent.provider_name,
        "gen_ai.request.model": settings.model,
        "gen_ai.request.stream": streaming,
        "gen_ai.agent.name": agent.name,
    }
    if tracing.capture_content():
        attributes["gen_ai.system_instructions"] = settings.system_prompt
        attributes["gen_ai.input.messages"] = json.dumps(
            [{"role": m.role, "content": m.content} for m in messages]
        )
    return tracing.start_span(f"chat {settings.model}", attributes, kind="CLIENT")


def chat_ended(span: Span, end: StreamEnd, text: str | None) -> None:
    """The call's answer on its span (the text only when content capture is on)."""
    span.set_attribute("gen_ai.response.model", end.model or "")
    span.set_attribute("gen_ai.response.finish_reasons", [end.finish_reason or ""])
    span.set_attribute("gen_ai.usage.input_tokens", int(end.usage.prompt_tokens))
    span.set_attribute("gen_ai.usage.output_tokens", int(end.usage.completion_tokens))
    if text is not None and tracing.capture_content():
        span.set_attribute(
            "gen_ai.output.messages", json.dumps([{"role": "assistant", "content": text}])
        )


def tool_span(agent: Agent, name: str, call_id: str, arguments: str) -> Span | None:
    if not tracing.enabled():
        return None
    attributes: dict[str, tracing.AttributeValue] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.agent.name": agent.name,
    }
    if tracing.capture_content():
        attributes["gen_ai.tool.call.arguments"] = arguments
    return tracing.start_span(f"execute_tool {name}", attributes)


class RunSpan:
    """``invoke_agent <agent>`` of a streamed run: current while the run computes its next
    item (each ``await`` of :meth:`around`), ended by the run's end, failure or close."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span: Span | None = span

    @classmethod
    def start(cls, agent: Agent, conversation_id: str | None) -> RunSpan | None:
        span = invoke_span(agent, conversation_id)
        return None if span is None else cls(span)

    async def around(
        self, step: Awaitable[T], *, recoverable: tuple[type[Exception], ...] = ()
    ) -> T:
        """``await step`` under the span; a ``recoverable`` error (a fallback follows) leaves
        it open."""
        span = self._span
        if span is None:
            return await step
        token = tracing.attach(span)
        try:
            return await step
        except StopAsyncIteration:
            self.end(None)
            raise
        except recoverable:
            raise
        except BaseException as exc:
            self.end(exc)
            raise
        finally:
            tracing.detach(token)

    def end(self, exc: BaseException | None) -> None:
        span, self._span = self._span, None
        if span is not None:
            tracing.end_span(span, None if exc is None else tracing.error_type(exc))


Item = TypeVar("Item")


class SpannedRun(Generic[Item]):
    """A run's items under its span: closing the run (``async with`` or :meth:`aclose`) closes
    its generator, and with it the upstream request, and ends the span."""

    _items: AsyncGenerator[Item, None]
    _span: RunSpan | None

    def __aiter__(self) -> Self:
        return self

    async def aclose(self) -> None:
        await self._items.aclose()
        if self._span is not None:
            self._span.end(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def invoke_span(agent: Agent, conversation_id: str | None) -> Span | None:
    if not tracing.enabled():
        return None
    attributes: dict[str, tracing.AttributeValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent.name,
        "gen_ai.provider.name": agent.provider_name,
        "gen_ai.request.model": agent.settings.model,
    }
    if conversation_id is not None:
        attributes["gen_ai.conversation.id"] = conversation_id
    return tracing.start_span(f"invoke_agent {agent.name}", attributes)
