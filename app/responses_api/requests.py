"""Responses API request bodies, validated with ``app.responses_api.models``, into core runs.

Every problem is a 400 ``invalid_request_error`` naming the parameter in ``param``
(``input[2].call_id``, ``tools[0].type``), as OpenAI answers. Arguments OpenAI knows but this
server does not implement are refused rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.contract import errors
from app.core import NO_MAX_TOKENS, RunOptions
from app.http.tools import core_tool_choice, core_tools, refuse_unsupported
from app.http.wire import InvalidFieldError, quoted, validate_body
from app.providers import (
    ChatMessage,
    ChatParams,
    JSONSchemaFormat,
    ResponseFormat,
    ToolCall,
)

from . import models
from .models import ResponseCreateRequest


def _unknown_message(param: str) -> str:
    """An argument that is not part of the Responses API at all (OpenAI's wording)."""
    return f"Unknown parameter: {quoted(param)}."


class MissingParameterError(InvalidFieldError):
    error = errors.MISSING_REQUIRED_PARAMETER

    def __init__(self, param: str) -> None:
        super().__init__(param, "")
        self.message = f"Missing required parameter: {quoted(param)}."


class UnsupportedToolError(InvalidFieldError):
    """A hosted tool (web_search, file_search, computer_use...): this server runs none."""

    error = errors.UNSUPPORTED_TOOL


RESPONSES_FIELDS = frozenset(ResponseCreateRequest.model_fields)

# Every other argument of openai.types.responses.ResponseCreateParams (a test keeps this equal to
# the SDK's).
OPENAI_ONLY_FIELDS = frozenset(
    {
        "access_programs",
        "background",
        "background_options",
        "context_management",
        "conversation",
        "image",
        "include",
        "max_tool_calls",
        "moderation",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "service_tier",
        "top_logprobs",
        "truncation",
    }
)

# Values that ask for exactly what the server does anyway (clients often send the defaults).
NO_OP_VALUES: dict[str, tuple[Any, ...]] = {
    "background": (False,),
    "include": ([],),
    "truncation": ("disabled",),
    "service_tier": ("auto", "default"),
    "top_logprobs": (0,),
}

# The function tool is the only one: the client runs it. OpenAI's hosted tools are refused by
# name, anything else as an invalid type.
HOSTED_TOOLS = frozenset(
    {
        "apply_patch",
        "code_interpreter",
        "computer",
        "computer_use",
        "computer_use_preview",
        "custom",
        "file_search",
        "image_generation",
        "local_shell",
        "mcp",
        "shell",
        "tool_search",
        "web_search",
        "web_search_2025_08_26",
        "web_search_preview",
        "web_search_preview_2025_03_11",
    }
)


@dataclass(frozen=True, slots=True)
class ResponsesCall:
    """A validated request: its new conversation turns and the run's options."""

    request: ResponseCreateRequest
    # The input items as core messages; `instructions` is not among them (it is not carried
    # over to a later response, as OpenAI does).
    input: list[ChatMessage]
    options: RunOptions

    @property
    def store(self) -> bool:
        return self.request.store is not False


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    refuse_unsupported(body, RESPONSES_FIELDS, OPENAI_ONLY_FIELDS, NO_OP_VALUES, _unknown_message)
    if "input" not in body:
        raise MissingParameterError("input")


def _refuse_hosted_tools(body: Mapping[str, Any]) -> None:
    tools, choice = body.get("tools"), body.get("tool_choice")
    for index, tool in enumerate(tools if isinstance(tools, list) else ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind in HOSTED_TOOLS:
            raise UnsupportedToolError(
                f"tools[{index}].type",
                f"the hosted tool {kind!r} is not supported by this server; only function tools",
            )
    if isinstance(choice, dict) and choice.get("type") not in (None, "function"):
        raise UnsupportedToolError(
            "tool_choice.type", "only a function (or none, auto, required) can be chosen"
        )


def _text(content: str | Sequence[models.InputText | models.OutputText]) -> str:
    return content if isinstance(content, str) else "".join(part.text for part in content)


def input_messages(request: ResponseCreateRequest) -> list[ChatMessage]:
    """The input items as core messages: consecutive function calls (and the assistant text
    right before them) become one assistant message with ``tool_calls``."""
    if isinstance(request.input, str):
        return [ChatMessage("user", request.input)]
    messages: list[ChatMessage] = []
    for item in request.input:
        if isinstance(item, models.MessageItem):
            messages.append(ChatMessage(item.role, _text(item.content)))
        elif isinstance(item, models.FunctionCallItem):
            call = ToolCall(item.call_id, item.name, item.arguments)
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                messages[-1] = ChatMessage("assistant", last.content, (*last.tool_calls, call))
            else:
                messages.append(ChatMessage("assistant", "", (call,)))
        else:
            messages.append(ChatMessage("tool", _text(item.output), tool_call_id=item.call_id))
    return messages


def check_conversation(conversation: Sequence[ChatMessage]) -> None:
    """The conversation (a previous response's, then the input) has something to answer, and
    OpenAI's rule holds: every function call has its output, right after the calls, and every
    output answers a call."""
    if all(message.role in ("system", "developer") for message in conversation):
        raise InvalidFieldError(
            "input", "must contain at least one message other than system or developer messages"
        )
    open_calls: set[str] = set()
    for message in conversation:
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            if call_id not in open_calls:
                raise InvalidFieldError(
                    "input",
                    f"no function call found for the function_call_output {quoted(call_id)}",
                )
            open_calls.discard(call_id)
            continue
        _unanswered(open_calls)
        open_calls = {call.id for call in message.tool_calls}
    _unanswered(open_calls)


def _unanswered(open_calls: set[str]) -> None:
    for call_id in sorted(open_calls):
        raise InvalidFieldError(
            "input", f"no function_call_output found for the function call {quoted(call_id)}"
        )


def _response_format(request: ResponseCreateRequest) -> ResponseFormat | None:
    value = request.text.format if request.text is not None else None
    if value is None:
        return None
    if isinstance(value, models.TextFormatJSONSchema):
        return JSONSchemaFormat(value.name, value.json_schema, value.description, value.strict)
    return value.type


def parse_response_create(body: Any) -> ResponsesCall:
    if isinstance(body, dict):
        _refuse_unsupported(body)
        _refuse_hosted_tools(body)
    request = validate_body(ResponseCreateRequest, body)
    tools = core_tools(request.tools or (), "tools[{}].name")
    max_tokens = request.max_output_tokens
    params = ChatParams(
        max_tokens=NO_MAX_TOKENS if max_tokens is None else max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        user=request.user if request.user is not None else request.safety_identifier,
        tools=tools,
        tool_choice=core_tool_choice(request.tool_choice, tools, "tool_choice.name"),
        parallel_tool_calls=request.parallel_tool_calls if tools else None,
        response_format=_response_format(request),
    )
    return ResponsesCall(request, input_messages(request), RunOptions(params))
