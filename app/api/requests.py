"""Request bodies of the agent API, validated with the models of ``app.api.models``.

Every problem is a 400 ``invalid_request_error`` naming the field, e.g. ``messages[1].content``.
Both routes refuse fields they do not implement: OpenAI answers 400 to an unrecognized argument,
and silently dropping ``logprobs`` or ``seed`` would hand the client something else than asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.agents import RunOptions
from app.contract import errors
from app.errors import BadRequestError
from app.providers import (
    ChatMessage,
    JSONSchemaFormat,
    NamedToolChoice,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)

from . import models
from .models import TAG_PREFIX, ChatCompletionRequest, Message, RunRequest

M = TypeVar("M", bound=BaseModel)

# Client-chosen names quoted in error messages are cut here, so an error never echoes a huge body.
MAX_QUOTED_NAME = 64


class InvalidFieldError(BadRequestError):
    """A 400 naming the offending field in ``param``, as OpenAI does."""

    error = errors.INVALID_FIELD

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}: {problem}")
        self.param = param

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["param"] = self.param
        return body


class UnsupportedParameterError(InvalidFieldError):
    """A Chat Completions argument OpenAI knows but this server does not implement (yet)."""

    error = errors.UNSUPPORTED_PARAMETER


class UnknownParameterError(InvalidFieldError):
    """An argument that is not part of the Chat Completions API at all (OpenAI's wording)."""

    error = errors.UNKNOWN_PARAMETER

    def __init__(self, param: str) -> None:
        super().__init__(param, "")
        self.message = f"Unrecognized request argument supplied: {param}"


# Chat Completions arguments this server implements.
CHAT_FIELDS = frozenset(ChatCompletionRequest.model_fields)
# Every other argument of openai.types.chat.CompletionCreateParams (a test keeps this equal to
# the SDK's). The deprecated `functions`, seeds, logprobs... are refused until supported.
OPENAI_ONLY_FIELDS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "metadata",
        "modalities",
        "moderation",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "safety_identifier",
        "seed",
        "service_tier",
        "store",
        "top_logprobs",
        "verbosity",
        "web_search_options",
    }
)
# Values that ask for exactly what the server does anyway (clients often send the defaults).
NO_OP_VALUES: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0,),
    "presence_penalty": (0,),
    "logprobs": (False,),
    "store": (False,),
    "functions": ([],),
}


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    for name in sorted(set(body) - CHAT_FIELDS):
        value = body[name]
        if name in OPENAI_ONLY_FIELDS:
            if value is None or any(
                value == no_op and type(value) is type(no_op)
                for no_op in NO_OP_VALUES.get(name, ())
            ):
                continue
            raise UnsupportedParameterError(
                name, "is not supported by this server; remove it from the request"
            )
        shown = name if len(name) <= MAX_QUOTED_NAME else name[:MAX_QUOTED_NAME] + "..."
        raise UnknownParameterError(shown)


@dataclass(frozen=True, slots=True)
class ChatCompletionCall:
    agent: str
    messages: list[ChatMessage]
    options: RunOptions
    stream: bool
    include_usage: bool


@dataclass(frozen=True, slots=True)
class RunCall:
    messages: list[ChatMessage]
    stream: bool
    metadata: dict[str, Any]


def _param(loc: tuple[int | str, ...]) -> str:
    param = ""
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif not part.startswith(TAG_PREFIX):
            if len(part) > MAX_QUOTED_NAME:
                part = part[:MAX_QUOTED_NAME] + "..."
            param += f".{part}" if param else part
    return param or "body"


def _validate(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise InvalidFieldError("body", "must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        if error["type"] == "extra_forbidden":
            problem = f"unknown field (allowed: {', '.join(model.model_fields)})"
        elif error["type"] == "missing" and error["msg"] == "Field required":
            problem = "is required"
        else:
            problem = error["msg"]
        raise InvalidFieldError(_param(error["loc"]), problem) from None


def _text(content: models.Content | None) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content or ())


def _messages(messages: list[Message]) -> list[ChatMessage]:
    _check_tool_messages(messages)
    return [
        ChatMessage(
            message.role,
            _text(message.content),
            tuple(
                ToolCall(call.id, call.function.name, call.function.arguments)
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
            f"tool call {_quoted(call_id)} has no tool message answering it (tool messages"
            " must directly follow the assistant message with tool_calls)",
        )


def _quoted(name: str) -> str:
    return repr(name if len(name) <= MAX_QUOTED_NAME else name[:MAX_QUOTED_NAME] + "...")


def _tools(request: ChatCompletionRequest) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    for index, definition in enumerate(request.tools or ()):
        function = definition.function
        if any(tool.name == function.name for tool in tools):
            raise InvalidFieldError(f"tools[{index}].function.name", "duplicate tool name")
        parameters = function.parameters or {"type": "object", "properties": {}}
        tools.append(Tool(function.name, function.description, parameters, function.strict))
    return tuple(tools)


def _tool_choice(request: ChatCompletionRequest, tools: tuple[Tool, ...]) -> ToolChoice | None:
    choice = request.tool_choice
    if choice is None or (not tools and choice in ("auto", "none")):
        # Without tools the model calls none anyway: these change nothing.
        return None
    if not tools:
        raise InvalidFieldError("tool_choice", "requires tools")
    if isinstance(choice, models.NamedToolChoice):
        name = choice.function.name
        if all(tool.name != name for tool in tools):
            raise InvalidFieldError("tool_choice.function.name", "names no tool in tools")
        return NamedToolChoice(name)
    return choice


def _response_format(request: ChatCompletionRequest) -> ResponseFormat | None:
    value = request.response_format
    if value is None:
        return None
    if isinstance(value, models.JSONSchemaFormat):
        spec = value.json_schema
        return JSONSchemaFormat(spec.name, spec.json_schema, spec.description, spec.strict)
    return value.type


def parse_chat_completion(body: Any) -> ChatCompletionCall:
    if isinstance(body, dict):
        _refuse_unsupported(body)
    request = _validate(ChatCompletionRequest, body)
    # Both are checked even though max_completion_tokens wins: an invalid field never passes.
    max_tokens = request.max_completion_tokens
    if max_tokens is None:
        max_tokens = request.max_tokens
    stop = request.stop
    tools = _tools(request)
    options = RunOptions(
        max_tokens=max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        user=request.user,
        tools=tools,
        tool_choice=_tool_choice(request, tools),
        parallel_tool_calls=request.parallel_tool_calls if tools else None,
        response_format=_response_format(request),
    )
    include_usage = request.stream_options is not None and request.stream_options.include_usage
    return ChatCompletionCall(
        request.model, _messages(request.messages), options, bool(request.stream), include_usage
    )


def parse_run(body: Any) -> RunCall:
    request = _validate(RunRequest, body)
    value = request.input
    messages = [ChatMessage("user", value)] if isinstance(value, str) else _messages(value)
    return RunCall(messages, bool(request.stream), request.metadata or {})
