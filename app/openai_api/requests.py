"""Chat completion request bodies, validated with ``app.openai_api.models``, into core run
requests.

Every problem is a 400 ``invalid_request_error`` naming the field, e.g. ``messages[1].content``.
Arguments this server does not implement are refused: OpenAI answers 400 to an unrecognized
argument, and silently dropping ``logprobs`` or ``seed`` would hand the client something else
than asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core import NO_MAX_TOKENS, RunOptions
from app.http.chat_messages import chat_messages
from app.http.tools import core_tool_choice, core_tools, refuse_unsupported
from app.http.wire import validate_body
from app.providers import (
    ChatMessage,
    ChatParams,
    JSONSchemaFormat,
    ResponseFormat,
    Tool,
    ToolChoice,
)

from . import models
from .models import ChatCompletionRequest


def _unknown_message(param: str) -> str:
    """An argument that is not part of the Chat Completions API at all (OpenAI's wording)."""
    return f"Unrecognized request argument supplied: {param}"


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


@dataclass(frozen=True, slots=True)
class ChatCompletionCall:
    agent: str
    messages: list[ChatMessage]
    options: RunOptions
    stream: bool
    include_usage: bool


def _tool_choice(request: ChatCompletionRequest, tools: tuple[Tool, ...]) -> ToolChoice | None:
    choice = request.tool_choice
    if isinstance(choice, models.NamedToolChoice):
        return core_tool_choice(choice.function, tools, "tool_choice.function.name")
    return core_tool_choice(choice, tools, "tool_choice.function.name")


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
        refuse_unsupported(body, CHAT_FIELDS, OPENAI_ONLY_FIELDS, NO_OP_VALUES, _unknown_message)
    request = validate_body(ChatCompletionRequest, body)
    # Both are checked even though max_completion_tokens wins: an invalid field never passes.
    max_tokens = request.max_completion_tokens
    if max_tokens is None:
        max_tokens = request.max_tokens
    stop = request.stop
    tools = core_tools((tool.function for tool in request.tools or ()), "tools[{}].function.name")
    params = ChatParams(
        max_tokens=NO_MAX_TOKENS if max_tokens is None else max_tokens,
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
        request.model,
        chat_messages(request.messages),
        RunOptions(params),
        bool(request.stream),
        include_usage,
    )
