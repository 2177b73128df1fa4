"""The agent API's request and response bodies: one definition that validates requests
(`app.api.requests`) and whose JSON schemas are the OpenAPI document's (`app.openapi`).

Request models are strict (no string-to-number or number-to-boolean coercion): a client sending
`"stream": "yes"` has a bug, and a 400 naming the field says so. Unions pick their member with a
discriminator so that an error names the member the client meant, e.g. `messages[0].content[1]`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidationInfo

MAX_STOP_SEQUENCES = 4
MAX_METADATA_KEYS = 16
# OpenAI's limit on the number of tools of one request.
MAX_TOOLS = 128
# The largest max_tokens an agent can be configured with (config.AgentSettings): anything above it
# is a client bug, not a request to clamp.
MAX_TOKENS_LIMIT = 1_000_000
# Union members are tagged "<...>": no field is named like that, so errors drop them from `param`.
TAG_PREFIX = "<"


def _member(value: Any, string: str, array: str, *, items: type | None = None) -> str | None:
    """The tag of the union member (a string or an array) that `value` is meant for."""
    if isinstance(value, str):
        return string
    if isinstance(value, list) and (items is None or all(isinstance(i, items) for i in value)):
        return array
    return None


def _integral(value: Any) -> Any:
    # JSON has one number type: 256.0 is the integer 256 (as JSON Schema's "integer" says).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


Content = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[list[TextPart], Tag("<parts>")],
    Discriminator(
        lambda value: _member(value, "<string>", "<parts>"),
        custom_error_type="invalid_content",
        custom_error_message="must be a string or an array of text parts",
    ),
]


# OpenAI's (and Anthropic's) rule for function names.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
ToolName = Annotated[str, Field(pattern=TOOL_NAME_PATTERN, examples=["get_weather"])]


class FunctionCall(_Strict):
    name: ToolName
    arguments: str = Field(description="The arguments as JSON text, as the model wrote them.")


class ToolCall(_Strict):
    id: str = Field(min_length=1)
    type: Literal["function"]
    function: FunctionCall


class Message(_Strict):
    """A chat message. `content` may be omitted or null only for assistant messages; an
    assistant message may carry `tool_calls`, each answered by a following `tool` message with
    its `tool_call_id`."""

    # The same rules as the validators, for the document.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"role": {"const": "assistant"}}},
                    "else": {
                        "required": ["content"],
                        "properties": {"content": {"not": {"type": "null"}}},
                    },
                },
                {
                    "if": {"properties": {"role": {"const": "tool"}}},
                    "then": {
                        "required": ["tool_call_id"],
                        "properties": {"tool_call_id": {"type": "string"}},
                    },
                    "else": {"properties": {"tool_call_id": {"type": "null"}}},
                },
                {
                    "if": {"properties": {"role": {"not": {"const": "assistant"}}}},
                    "then": {"properties": {"tool_calls": {"type": "null"}}},
                },
            ]
        }
    )

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Content | None = Field(default=None, validate_default=True)
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = Field(default=None, validate_default=True)

    @field_validator("content")
    @classmethod
    def _content_required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.data.get("role", "assistant") != "assistant":
            raise PydanticCustomError("missing", "is required (a string or an array of text parts)")
        return value

    @field_validator("tool_calls")
    @classmethod
    def _assistant_calls(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("role", "assistant") != "assistant":
            raise PydanticCustomError("not_allowed", "only assistant messages have tool_calls")
        return value

    @field_validator("tool_call_id")
    @classmethod
    def _tool_answers_a_call(cls, value: Any, info: ValidationInfo) -> Any:
        role = info.data.get("role")
        if role == "tool" and value is None:
            raise PydanticCustomError("missing", "is required for a tool message")
        if role != "tool" and value is not None:
            raise PydanticCustomError("not_allowed", "only tool messages have a tool_call_id")
        return value


def _has_conversation(messages: list[Message]) -> list[Message]:
    if all(message.role in ("system", "developer") for message in messages):
        raise PydanticCustomError(
            "no_conversation", "must contain at least one user or assistant message"
        )
    return messages


Messages = Annotated[
    list[Message],
    Field(
        min_length=1,
        description="At least one user or assistant message.",
        json_schema_extra={
            "contains": {
                "type": "object",
                "required": ["role"],
                "properties": {"role": {"enum": ["user", "assistant"]}},
            }
        },
    ),
    AfterValidator(_has_conversation),
]
MaxTokens = Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT), BeforeValidator(_integral)]
Stop = Annotated[
    Annotated[str, Tag("<string>")]
    | Annotated[list[str], Tag("<list>"), Field(max_length=MAX_STOP_SEQUENCES)],
    Discriminator(
        lambda value: _member(value, "<string>", "<list>", items=str),
        custom_error_type="invalid_stop",
        custom_error_message="must be a string or an array of strings",
    ),
]


class StreamOptions(_Strict):
    include_usage: bool = False


def _object_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and value.get("type") != "object":
        raise PydanticCustomError("invalid_schema", 'must be a JSON Schema of "type": "object"')
    return value


class FunctionDefinition(_Strict):
    name: ToolName
    description: str | None = None
    parameters: Annotated[
        dict[str, Any] | None,
        AfterValidator(_object_schema),
        Field(description='A JSON Schema of "type": "object"; omitted means no parameters.'),
    ] = None
    strict: bool | None = None


class ToolDefinition(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(_Strict):
    name: ToolName


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: FunctionName


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag("<mode>")]
    | Annotated[NamedToolChoice, Tag("<function>")],
    Discriminator(
        lambda value: "<mode>" if isinstance(value, str) else "<function>",
        custom_error_type="invalid_tool_choice",
        custom_error_message='must be "none", "auto", "required" or a named function',
    ),
]


class JSONSchemaSpec(_Strict):
    name: ToolName
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextFormat(_Strict):
    type: Literal["text"]


class JSONObjectFormat(_Strict):
    type: Literal["json_object"]


class JSONSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JSONSchemaSpec


def _format_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else None
    return f"<{kind}>" if kind in ("text", "json_object", "json_schema") else None


ResponseFormat = Annotated[
    Annotated[TextFormat, Tag("<text>")]
    | Annotated[JSONObjectFormat, Tag("<json_object>")]
    | Annotated[JSONSchemaFormat, Tag("<json_schema>")],
    Discriminator(
        _format_type,
        custom_error_type="invalid_response_format",
        custom_error_message="must be an object with type text, json_object or json_schema",
    ),
]


class ChatCompletionRequest(_Strict):
    """OpenAI-compatible; `model` is an agent name. Other Chat Completions arguments are
    refused with 400 `unsupported_parameter` (null, or a value that changes nothing, is
    accepted), unknown ones with `unknown_parameter`. Anthropic agents send no `temperature`
    or `top_p` upstream (their API version refuses them); their tools, tool calls and
    `response_format` are translated (docs/http-api.md)."""

    model: str = Field(min_length=1, examples=["coding"])
    messages: Messages
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    stop: Stop | None = None
    user: str | None = None
    n: Literal[1] | None = Field(default=None, description="Only 1 is supported.")
    tools: list[ToolDefinition] | None = Field(
        default=None, max_length=MAX_TOOLS, description="Function tools; names are unique."
    )
    tool_choice: ToolChoice | None = Field(
        default=None, description="`required` or a named function needs `tools`."
    )
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


RunInput = Annotated[
    Annotated[str, Tag("<string>"), Field(min_length=1, pattern=r"\S")]
    | Annotated[Messages, Tag("<messages>")],
    Discriminator(
        lambda value: _member(value, "<string>", "<messages>"),
        custom_error_type="invalid_input",
        custom_error_message="must be a string or an array of messages",
    ),
]


class RunRequest(_Strict):
    model_config = ConfigDict(extra="forbid")

    input: RunInput
    stream: bool | None = None
    metadata: dict[str, Any] | None = Field(default=None, max_length=MAX_METADATA_KEYS)


# Responses: built as plain dicts on the hot path; these define their documented shape, and
# schemathesis checks a live server's answers against it (tests/reliability/test_openapi.py).

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]
ProviderName = Literal["openai", "anthropic"]


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str
    param: str | None = Field(default=None, description="The invalid field.")


class Error(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_seconds: float = Field(ge=0)


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]


class NotReady(BaseModel):
    status: Literal["not_ready"]
    reason: Literal["starting", "draining", "stopping"]


class Usage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class ResponseFunctionCall(BaseModel):
    name: str
    arguments: str = Field(description="JSON text, as the model wrote it.")


class ResponseToolCall(BaseModel):
    id: str
    type: Literal["function"]
    function: ResponseFunctionCall


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None = Field(description="Null when the answer is only tool calls.")
    refusal: None = None
    tool_calls: list[ResponseToolCall] | None = Field(
        default=None, description="Present when the model called tools."
    )


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: FinishReason


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str = Field(description="The agent that answered.")
    choices: list[Choice]
    usage: Usage
    system_fingerprint: None = None


class ChatCompletionStreamEvent(BaseModel):
    """One server-sent event of a streamed completion: `data:` holds a chat.completion.chunk
    (text in `delta.content`, function calls in `delta.tool_calls[]`: a call's first delta
    with `index`, `id`, `type` and `function.name`, then `function.arguments` fragments), a usage
    chunk (`choices: []`) when `stream_options.include_usage` is set, or `[DONE]`
    last. A failure after the first token is one `data: {"error": {...}}` event before
    `[DONE]`."""

    data: str = Field(min_length=1)


ToolOutcome = Literal["ok", "error", "timeout", "invalid_arguments", "rejected"]


class RunToolCall(BaseModel):
    """A tool call of a step (tools agents) and how it ended."""

    id: str
    name: str = Field(description="The tool's name as the model called it.")
    tool_server: str | None = Field(description="Null for a tool the model made up.")
    arguments: str = Field(description="JSON text, as the model wrote it.")
    outcome: ToolOutcome
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


class RunToolCallEvent(BaseModel):
    """`run.tool_call`: the model asked for a tool; the call starts now."""

    id: str = Field(description="The run's id.")
    step: int = Field(ge=1)
    tool_call_id: str
    name: str
    tool_server: str | None
    arguments: str


class RunToolResultEvent(BaseModel):
    """`run.tool_result`: a tool call ended; `output` is what the model gets back."""

    id: str = Field(description="The run's id.")
    step: int = Field(ge=1)
    tool_call_id: str
    name: str
    tool_server: str | None
    outcome: ToolOutcome
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


class Model(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[Model]


class AgentInfo(BaseModel):
    name: str
    type: str
    provider: ProviderName
    model: str
    timeout: float | None = None
    max_tokens: int | None = None
    fallback: str | None = None
    available: bool


class AgentList(BaseModel):
    object: Literal["list"]
    data: list[AgentInfo]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ChatCompletionRequest, RunRequest)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error,
    Health,
    Live,
    Ready,
    NotReady,
    ChatCompletion,
    ChatCompletionStreamEvent,
    Run,
    RunStreamEvent,
    RunToolCallEvent,
    RunToolResultEvent,
    ModelList,
    AgentList,
)
