"""What a run is made of: the options a request asks for, the token account it charges, its
steps and tool-call events, and its result. Front doors build their wire shapes from these."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Protocol

from app.config import AgentSettings
from app.providers import ChatParams, FinishReason, Tool, ToolCall, Usage
from app.tools import ToolCallOutcome

from .registry import Agent

__all__ = [
    "NO_MAX_TOKENS",
    "RunEvent",
    "RunLimit",
    "RunOptions",
    "RunResult",
    "Step",
    "TokenAccount",
    "ToolCallFinished",
    "ToolCallRecord",
    "ToolCallStarted",
]

# A request's max_tokens when it sets none: no ceiling below the agent's own.
NO_MAX_TOKENS = 2**63 - 1
# The chat parameters of a request that sets none: the agent's configuration decides.
AGENT_DEFAULTS = ChatParams(NO_MAX_TOKENS)


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


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one request asks of a run: the chat parameters it set, laid over the agent's
    configuration by :meth:`params_for`. ``params.max_tokens`` is a ceiling (the agent's own
    applies when lower; ``NO_MAX_TOKENS`` when the request set none) and a ``None``
    ``params.temperature`` is the agent's."""

    params: ChatParams = AGENT_DEFAULTS
    # The conversation the run belongs to, where the front door has one (an A2A context): on
    # the run's span as gen_ai.conversation.id.
    conversation_id: str | None = None

    @property
    def tools(self) -> tuple[Tool, ...]:
        return self.params.tools

    def with_tools(self, tools: tuple[Tool, ...]) -> RunOptions:
        return dataclasses.replace(self, params=dataclasses.replace(self.params, tools=tools))

    def max_tokens_for(self, settings: AgentSettings) -> int:
        return min(self.params.max_tokens, settings.max_tokens)

    def params_for(self, settings: AgentSettings) -> ChatParams:
        params = self.params
        temperature = settings.temperature if params.temperature is None else params.temperature
        return dataclasses.replace(
            params, max_tokens=self.max_tokens_for(settings), temperature=temperature
        )


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call of a step. ``tool_server`` is None for a tool the model made up."""

    id: str
    name: str
    tool_server: str | None
    arguments: str
    outcome: ToolCallOutcome
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


# What a tools agent's run yields: text deltas and its tool calls' events.
RunEvent = str | ToolCallStarted | ToolCallFinished


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
