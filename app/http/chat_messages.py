"""The chat message both HTTP APIs accept (OpenAI's shape: the chat completions' ``messages``, a
run's ``input``), and its translation into the core's messages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, Tag, field_validator
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidationInfo

from app.providers import ChatMessage
from app.providers import ToolCall as CoreToolCall

from .wire import InvalidFieldError, StrictModel, quoted, string_or_array


class TextPart(StrictModel):
    type: Literal["text"]
    text: str


Content = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[list[TextPart], Tag("<parts>")],
    string_or_array("<parts>", "invalid_content", "must be a string or an array of text parts"),
]


# OpenAI's (and Anthropic's) rule for function names.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"

ToolName = Annotated[str, Field(pattern=TOOL_NAME_PATTERN, examples=["get_weather"])]


class FunctionCall(StrictModel):
    name: ToolName
    arguments: str = Field(description="The arguments as JSON text, as the model wrote them.")


class ToolCall(StrictModel):
    id: str = Field(min_length=1)
    type: Literal["function"]
    function: FunctionCall


class Message(StrictModel):
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


def _text(content: Content | None) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content or ())


def chat_messages(messages: list[Message]) -> list[ChatMessage]:
    _check_tool_messages(messages)
    return [
        ChatMessage(
            message.role,
            _text(message.content),
            tuple(
                CoreToolCall(call.id, call.function.name, call.function.arguments)
                for call in message.tool_calls or ()
            ),
            message.tool_call_id,
        )
        for message in messages
    ]


def _check_tool_messages(messages: list[Message]) -> None:
    """OpenAI's rule: the tool messages directly after an assistant message with ``tool_calls``
    answer each of its calls, once; no other tool message exists."""
    # Calls of the latest assistant message not answered yet: id -> that message's index.
    open_calls: dict[str, int] = {}
    for index, message in enumerate(messages):
        if message.role == "tool":
            if open_calls.pop(message.tool_call_id or "", None) is None:
                raise InvalidFieldError(
                    f"messages[{index}].tool_call_id",
                    "must be the id of an unanswered tool call of the assistant message"
                    " directly before the tool messages",
                )
            continue
        _unanswered(open_calls)
        for position, call in enumerate(message.tool_calls or ()):
            if call.id in open_calls:
                raise InvalidFieldError(
                    f"messages[{index}].tool_calls[{position}].id",
                    "duplicate tool call id",
                )
            open_calls[call.id] = index
    _unanswered(open_calls)


def _unanswered(open_calls: dict[str, int]) -> None:
    for call_id, index in open_calls.items():
        raise InvalidFieldError(
            f"messages[{index}].tool_calls",
            f"tool call {quoted(call_id)} has no tool message answering it (tool messages"
            " must directly follow the assistant message with tool_calls)",
        )
