"""Bodies of the OpenAI Responses API: one definition that validates requests
(``app.responses_api.requests``) and whose JSON schemas are the OpenAPI document's.

Request models are strict, like the chat completions' (``app.openai_api.models``). Input items
accept the fields OpenAI's own output items carry (``id``, ``status``, ``annotations``...), because
clients such as the OpenAI Agents SDK send a response's output back as the next turn's input.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Tag

from app.http.chat_messages import ToolName
from app.http.tools import FormatMembers, Parameters, ToolChoiceOf, format_discriminator
from app.http.wire import StrictModel, by_type, string_or_array

# OpenAI's limits: tools of one request, metadata pairs and their sizes, the smallest output.
MAX_TOOLS = 128
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MIN_OUTPUT_TOKENS = 16
# The largest max_output_tokens an agent can be configured with (config.AgentSettings).
MAX_OUTPUT_TOKENS = 1_000_000


class InputText(StrictModel):
    type: Literal["input_text"]
    text: str


class OutputText(StrictModel):
    """An earlier answer's text, sent back as input."""

    type: Literal["output_text"]
    text: str
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None


Part = Annotated[
    Annotated[InputText, Tag("<input_text>")] | Annotated[OutputText, Tag("<output_text>")],
    by_type(
        ("input_text", "output_text"),
        "invalid_content_part",
        "must be an input_text (or, from an earlier answer, output_text) part",
    ),
]

Content = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[list[Part], Tag("<parts>")],
    string_or_array(
        "<parts>", "invalid_content", "must be a string or an array of input_text parts"
    ),
]


class MessageItem(StrictModel):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: Content
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallItem(StrictModel):
    """A call the model asked for in an earlier answer."""

    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: ToolName
    arguments: str = Field(description="JSON text, as the model wrote it.")
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutputItem(StrictModel):
    """The client's result of a function call."""

    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: Annotated[
        Annotated[str, Tag("<string>")] | Annotated[list[InputText], Tag("<parts>")],
        string_or_array(
            "<parts>", "invalid_output", "must be a string or an array of input_text parts"
        ),
    ]
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


Item = Annotated[
    Annotated[MessageItem, Tag("<message>")]
    | Annotated[FunctionCallItem, Tag("<function_call>")]
    | Annotated[FunctionCallOutputItem, Tag("<function_call_output>")],
    by_type(
        ("message", "function_call", "function_call_output"),
        "invalid_input_item",
        "must be a message, function_call or function_call_output item",
        default="message",
    ),
]

Input = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[list[Item], Tag("<items>")],
    string_or_array("<items>", "invalid_input", "must be a string or an array of input items"),
]


class FunctionTool(StrictModel):
    type: Literal["function"]
    name: ToolName
    description: str | None = None
    parameters: Parameters = None
    strict: bool | None = None


class NamedFunction(StrictModel):
    type: Literal["function"]
    name: ToolName


ToolChoice = ToolChoiceOf[NamedFunction]


class TextFormatText(StrictModel):
    type: Literal["text"]


class TextFormatJSONObject(StrictModel):
    type: Literal["json_object"]


class TextFormatJSONSchema(StrictModel):
    type: Literal["json_schema"]
    name: ToolName
    json_schema: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = Annotated[
    FormatMembers[TextFormatText, TextFormatJSONObject, TextFormatJSONSchema],
    format_discriminator("invalid_format"),
]


class TextConfig(StrictModel):
    format: TextFormat | None = None
    verbosity: Literal["medium"] | None = Field(
        default=None, description="Only the default, medium."
    )


Metadata = Annotated[
    dict[
        Annotated[str, Field(max_length=MAX_METADATA_KEY)],
        Annotated[str, Field(max_length=MAX_METADATA_VALUE)],
    ],
    Field(max_length=MAX_METADATA_PAIRS),
]


class StreamOptions(StrictModel):
    include_obfuscation: bool | None = Field(
        default=None, description="Accepted; this server never adds obfuscation."
    )


class ResponseCreateRequest(StrictModel):
    """OpenAI Responses API; `model` is an agent name. Other Responses arguments are refused
    with 400 `unsupported_parameter` (null, or a value that changes nothing, is accepted),
    unknown ones with `unknown_parameter`, hosted tools with `unsupported_tool`
    (docs/responses.md)."""

    model: str = Field(min_length=1, examples=["coding"])
    input: Input
    instructions: str | None = None
    previous_response_id: str | None = Field(default=None, min_length=1)
    store: bool | None = Field(default=None, description="Default true: kept for a while.")
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[FunctionTool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(default=None, ge=MIN_OUTPUT_TOKENS, le=MAX_OUTPUT_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    metadata: Metadata | None = None
    user: str | None = None
    safety_identifier: str | None = None


# Responses: built as plain dicts; these define their documented shape (the SDK's types are the
# tests' reference: tests/app/responses_api).


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ResponseUsage(BaseModel):
    input_tokens: int = Field(ge=0)
    input_tokens_details: dict[str, int]
    output_tokens: int = Field(ge=0)
    output_tokens_details: dict[str, int]
    total_tokens: int = Field(ge=0)


class OutputItem(_Open):
    """A `message` (content: `output_text` parts) or a `function_call` (`call_id`, `name`,
    `arguments`)."""

    id: str
    type: Literal["message", "function_call"]
    status: Literal["in_progress", "completed", "incomplete"]


class Response(_Open):
    id: str = Field(pattern="^resp_")
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "failed", "in_progress"]
    error: dict[str, Any] | None
    incomplete_details: dict[str, str] | None
    model: str = Field(description="The agent that answered.")
    output: list[OutputItem]
    usage: ResponseUsage | None
    previous_response_id: str | None
    store: bool


class ResponseDeleted(BaseModel):
    id: str
    object: Literal["response"]
    deleted: Literal[True]


class ResponseStreamEvent(BaseModel):
    """One server-sent event of a streamed response: `event:` names its type, `data:` holds the
    event with its `type` and `sequence_number` (from 0)."""

    event: str
    data: str = Field(min_length=1)


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ResponseCreateRequest,)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (Response, ResponseDeleted, ResponseStreamEvent)
