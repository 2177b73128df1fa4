"""The provider-neutral chat model that agents speak; adapters translate it to each provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "developer", "user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatParams:
    """Sampling and limit options of one call; ``None`` means the provider's default."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None


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


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """Last item of a provider stream, after every text delta."""

    finish_reason: FinishReason
    usage: Usage
    model: str


StreamItem = str | Usage | StreamEnd
"""A provider stream yields text deltas (``str``), the usage reported so far (:class:`Usage`,
cumulative, as the provider sends it) and then exactly one :class:`StreamEnd`."""
