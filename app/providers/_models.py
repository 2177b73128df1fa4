"""The provider-neutral chat model that agents speak; adapters translate it to each provider.

Tool calling follows OpenAI's Chat Completions model (the one clients and agent frameworks speak):
the caller offers :class:`Tool` definitions in :class:`ChatParams`, a completion or stream answers
with :class:`ToolCall` s (finish reason ``tool_calls``), and the caller sends them back as an
assistant :class:`ChatMessage` with ``tool_calls`` followed by one ``tool`` message per call
(``tool_call_id``) holding the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatMessage",
    "ChatParams",
    "Completion",
    "FinishReason",
    "JSONSchemaFormat",
    "NamedToolChoice",
    "ResponseFormat",
    "Role",
    "StreamEnd",
    "StreamItem",
    "Tool",
    "ToolCall",
    "ToolCallAssembler",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for. ``arguments`` is JSON text, as the model wrote it
    (normally an object; not validated here)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message. ``tool_calls`` only on assistant messages (``content`` may then be empty);
    ``tool_call_id`` only, and always, on ``tool`` messages, whose ``content`` is the result."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call. ``parameters`` is a JSON Schema of ``type: object``."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class NamedToolChoice:
    """Force a call of this one tool."""

    name: str


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice
"""``auto``: the model decides; ``none``: no calls; ``required``: at least one call."""


@dataclass(frozen=True, slots=True)
class JSONSchemaFormat:
    """Answer with JSON text matching ``schema`` (OpenAI's ``json_schema`` response format)."""

    name: str
    schema: Mapping[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


ResponseFormat = Literal["text", "json_object"] | JSONSchemaFormat


@dataclass(frozen=True, slots=True)
class ChatParams:
    """Sampling, limit and tool options of one call; ``None`` means the provider's default.

    ``tool_choice`` and ``parallel_tool_calls`` apply only when ``tools`` is not empty."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: FinishReason
    usage: Usage
    model: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call, in OpenAI's shape. ``index`` numbers the calls of one
    answer from 0; the first delta of a call carries its ``id`` and ``name`` (and usually no
    arguments), later ones only ``arguments`` fragments whose concatenation is the JSON text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """Last item of a provider stream, after every delta. ``tool_calls`` are the streamed calls,
    assembled."""

    finish_reason: FinishReason
    usage: Usage
    model: str
    tool_calls: tuple[ToolCall, ...] = ()


StreamItem = str | ToolCallDelta | Usage | StreamEnd
"""A provider stream yields text deltas (``str``), tool-call deltas (:class:`ToolCallDelta`), the
usage reported so far (:class:`Usage`, cumulative, as the provider sends it) and then exactly one
:class:`StreamEnd`."""


class ToolCallAssembler:
    """Joins :class:`ToolCallDelta` s into :class:`ToolCall` s, in index order."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.setdefault(delta.index, ["", "", ""])
        if delta.id:
            call[0] = delta.id
        if delta.name:
            call[1] += delta.name
        call[2] += delta.arguments

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(call_id, name, arguments)
            for _, (call_id, name, arguments) in sorted(self._calls.items())
        )
