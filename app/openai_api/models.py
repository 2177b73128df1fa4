"""Bodies of the OpenAI-compatible API: one definition that validates requests
(``app.openai_api.requests``) and whose JSON schemas are the OpenAPI document's (``app.openapi``).

Request models are strict (no string-to-number or number-to-boolean coercion): a client sending
`"stream": "yes"` has a bug, and a 400 naming the field says so. Unions pick their member with a
discriminator so that an error names the member the client meant, e.g. `messages[0].content[1]`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, Tag

from app.core.wire import Usage
from app.http.chat_messages import Messages, ToolName
from app.http.models import ListObject
from app.http.tools import FormatMembers, Parameters, ToolChoiceOf, format_discriminator
from app.http.wire import StrictModel, string_or_array
from app.providers import FinishReason

MAX_STOP_SEQUENCES = 4


# OpenAI's limit on the number of tools of one request.
MAX_TOOLS = 128


# The largest max_tokens an agent can be configured with (config.AgentSettings): anything above it
# is a client bug, not a request to clamp.
MAX_TOKENS_LIMIT = 1_000_000


def _integral(value: Any) -> Any:
    # JSON has one number type: 256.0 is the integer 256 (as JSON Schema's "integer" says).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


MaxTokens = Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT), BeforeValidator(_integral)]


Stop = Annotated[
    Annotated[str, Tag("<string>")]
    | Annotated[list[str], Tag("<list>"), Field(max_length=MAX_STOP_SEQUENCES)],
    string_or_array("<list>", "invalid_stop", "must be a string or an array of strings", items=str),
]


class StreamOptions(StrictModel):
    include_usage: bool = False


class FunctionDefinition(StrictModel):
    name: ToolName
    description: str | None = None
    parameters: Annotated[
        Parameters,
        Field(description='A JSON Schema of "type": "object"; omitted means no parameters.'),
    ] = None
    strict: bool | None = None


class ToolDefinition(StrictModel):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(StrictModel):
    name: ToolName


class NamedToolChoice(StrictModel):
    type: Literal["function"]
    function: FunctionName


ToolChoice = ToolChoiceOf[NamedToolChoice]


class JSONSchemaSpec(StrictModel):
    name: ToolName
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextFormat(StrictModel):
    type: Literal["text"]


class JSONObjectFormat(StrictModel):
    type: Literal["json_object"]


class JSONSchemaFormat(StrictModel):
    type: Literal["json_schema"]
    json_schema: JSONSchemaSpec


ResponseFormat = Annotated[
    FormatMembers[TextFormat, JSONObjectFormat, JSONSchemaFormat],
    format_discriminator("invalid_response_format"),
]


class ChatCompletionRequest(StrictModel):
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


# Responses: built as plain dicts on the hot path; these define their documented shape, and
# schemathesis checks a live server's answers against it (tests/reliability/test_openapi.py).


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


class Model(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(ListObject[Model]):
    pass


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ChatCompletionRequest,)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ChatCompletion,
    ChatCompletionStreamEvent,
    ModelList,
)
