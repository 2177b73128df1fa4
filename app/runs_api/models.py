"""Bodies of the runs API (``/v1/agents``): the run request, and the run, step and event shapes
its handlers produce; their JSON schemas are the OpenAPI document's (``app.openapi``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Tag

from app.config import ProviderName
from app.core.wire import Usage
from app.http.chat_messages import Messages
from app.http.models import ListObject
from app.http.wire import StrictModel, string_or_array
from app.providers import FinishReason
from app.tools import ToolCallOutcome

MAX_METADATA_KEYS = 16


RunInput = Annotated[
    Annotated[str, Tag("<string>"), Field(min_length=1, pattern=r"\S")]
    | Annotated[Messages, Tag("<messages>")],
    string_or_array("<messages>", "invalid_input", "must be a string or an array of messages"),
]


class RunRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    input: RunInput
    stream: bool | None = None
    metadata: dict[str, Any] | None = Field(default=None, max_length=MAX_METADATA_KEYS)


# Responses: built as plain dicts on the hot path; these define their documented shape, and
# schemathesis checks a live server's answers against it (tests/reliability/test_openapi.py).


class RunToolCall(BaseModel):
    """A tool call of a step (tools agents) and how it ended."""

    id: str
    name: str = Field(description="The tool's name as the model called it.")
    tool_server: str | None = Field(description="Null for a tool the model made up.")
    arguments: str = Field(description="JSON text, as the model wrote it.")
    outcome: ToolCallOutcome
    duration_ms: float = Field(ge=0)
    error: str | None = Field(default=None, description="What the model was told went wrong.")
    result_chars: int = Field(ge=0, description="Length of the tool's result before any cut.")
    truncated: bool = Field(description="The result was cut to max_tool_result_chars.")


class RunStep(BaseModel):
    """One model call of a tools agent's run, and the tool calls it asked for."""

    index: int = Field(ge=1)
    finish_reason: FinishReason
    model: str
    usage: Usage
    duration_ms: float = Field(ge=0, description="The model call and its tool calls.")
    tool_calls: list[RunToolCall]


class RunLimitError(BaseModel):
    message: str
    type: Literal["run_limit"]
    code: Literal["max_steps_exceeded"]


class Run(BaseModel):
    id: str
    object: Literal["agent.run"]
    agent: str = Field(description="The agent that answered.")
    status: Literal["completed", "incomplete"] = Field(
        description="`incomplete`: a tools agent's run reached max_steps (see `error`)."
    )
    output: str
    finish_reason: FinishReason
    usage: Usage = Field(description="All model calls of the run together.")
    provider: ProviderName
    model: str
    duration_ms: float = Field(ge=0)
    metadata: dict[str, Any]
    steps: list[RunStep] | None = Field(
        default=None, description="Tools agents only: the model calls and their tool calls."
    )
    error: RunLimitError | None = Field(default=None, description="Why the run is incomplete.")


class _RunToolEvent(BaseModel):
    id: str = Field(description="The run's id.")
    step: int = Field(ge=1)
    tool_call_id: str
    name: str
    tool_server: str | None


class RunToolCallEvent(_RunToolEvent):
    """`run.tool_call`: the model asked for a tool; the call starts now."""

    arguments: str


class RunToolResultEvent(_RunToolEvent):
    """`run.tool_result`: a tool call ended; `output` is what the model gets back."""

    outcome: ToolCallOutcome
    duration_ms: float = Field(ge=0)
    output: str
    truncated: bool


class RunStreamEvent(BaseModel):
    """One server-sent event of a streamed run: `run.started` (`id`, `agent`,
    `status: running`), `run.delta` (`{"id", "delta"}`), for tools agents `run.tool_call`
    (RunToolCallEvent) and `run.tool_result` (RunToolResultEvent) between the deltas, then
    `run.completed` (a Run, `status` completed or incomplete) or `run.failed` (`status: failed`,
    `error: {message, type, code}`, and `steps` for tools agents). `data` is JSON."""

    event: Literal[
        "run.started",
        "run.delta",
        "run.tool_call",
        "run.tool_result",
        "run.completed",
        "run.failed",
    ]
    data: str = Field(json_schema_extra={"contentMediaType": "application/json"})


class AgentInfo(BaseModel):
    name: str
    type: str
    provider: ProviderName
    model: str
    timeout: float | None = None
    max_tokens: int | None = None
    fallback: str | None = None
    available: bool


class AgentList(ListObject[AgentInfo]):
    pass


REQUEST_MODELS: tuple[type[BaseModel], ...] = (RunRequest,)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Run,
    RunStreamEvent,
    RunToolCallEvent,
    RunToolResultEvent,
    AgentList,
)
