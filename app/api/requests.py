"""Request bodies of the agent API, checked field by field without building heavy models.

Every problem is a 400 ``invalid_request_error`` naming the field, e.g. ``messages[1].content``.
Both routes refuse fields they do not implement: OpenAI answers 400 to an unrecognized argument,
and silently dropping ``tools`` or ``response_format`` would hand the client free text instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from app.agents import RunOptions
from app.errors import BadRequestError
from app.providers import ChatMessage, Role

ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant"})
MAX_STOP_SEQUENCES = 4
MAX_METADATA_KEYS = 16
# The largest max_tokens an agent can be configured with (config.AgentSettings): anything above it
# is a client bug, not a request to clamp.
MAX_TOKENS_LIMIT = 1_000_000
# Client-chosen names quoted in error messages are cut here, so an error never echoes a huge body.
MAX_QUOTED_NAME = 64


class InvalidFieldError(BadRequestError):
    """A 400 naming the offending field in ``param``, as OpenAI does."""

    default_code = "invalid_field"

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}: {problem}")
        self.param = param

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["param"] = self.param
        return body


class UnsupportedParameterError(InvalidFieldError):
    """A Chat Completions argument OpenAI knows but this server does not implement (yet)."""

    default_code = "unsupported_parameter"


class UnknownParameterError(InvalidFieldError):
    """An argument that is not part of the Chat Completions API at all (OpenAI's wording)."""

    default_code = "unknown_parameter"

    def __init__(self, param: str) -> None:
        super().__init__(param, "")
        self.message = f"Unrecognized request argument supplied: {param}"


# Chat Completions arguments this server implements.
CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "user",
        "n",
    }
)
# Every other argument of openai.types.chat.CompletionCreateParams (a test keeps this equal to
# the SDK's). Tool calling, structured output, seeds, logprobs... are refused until supported.
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
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "store",
        "tool_choice",
        "tools",
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
    "tools": ([],),
    "functions": ([],),
    "parallel_tool_calls": (True, False),
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
class ChatCompletionRequest:
    agent: str
    messages: list[ChatMessage]
    options: RunOptions
    stream: bool
    include_usage: bool


@dataclass(frozen=True, slots=True)
class RunRequest:
    messages: list[ChatMessage]
    stream: bool
    metadata: dict[str, Any]


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InvalidFieldError("body", "must be a JSON object")
    return cast(Mapping[str, Any], body)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bool(body: Mapping[str, Any], field: str, default: bool = False) -> bool:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidFieldError(field, f"must be a boolean, not {_type_name(value)}")
    return value


def _number(body: Mapping[str, Any], field: str, low: float, high: float) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidFieldError(field, f"must be a number, not {_type_name(value)}")
    if not low <= value <= high:
        raise InvalidFieldError(field, f"must be between {low:g} and {high:g}")
    return float(value)


def _positive_int(body: Mapping[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        # JSON has one number type: 256.0 is the integer 256 (as JSON Schema's "integer" says).
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFieldError(field, f"must be an integer, not {_type_name(value)}")
    if value < 1:
        raise InvalidFieldError(field, "must be at least 1")
    if value > MAX_TOKENS_LIMIT:
        raise InvalidFieldError(field, f"must be at most {MAX_TOKENS_LIMIT}")
    return value


def _string(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFieldError(field, f"must be a string, not {_type_name(value)}")
    return value


def _content(value: Any, param: str, role: str) -> str:
    if isinstance(value, str):
        return value
    if value is None and role == "assistant":
        return ""
    if isinstance(value, list):
        parts = []
        for index, part in enumerate(value):
            where = f"{param}[{index}]"
            if not isinstance(part, dict):
                raise InvalidFieldError(where, f"must be an object, not {_type_name(part)}")
            if part.get("type") != "text":
                raise InvalidFieldError(f"{where}.type", "only text content parts are supported")
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidFieldError(
                    f"{where}.text", f"must be a string, not {_type_name(text)}"
                )
            parts.append(text)
        return "".join(parts)
    raise InvalidFieldError(
        param, f"must be a string or an array of text parts, not {_type_name(value)}"
    )


def parse_messages(value: Any, param: str = "messages") -> list[ChatMessage]:
    if not isinstance(value, list):
        raise InvalidFieldError(param, f"must be an array of messages, not {_type_name(value)}")
    if not value:
        raise InvalidFieldError(param, "must contain at least one message")
    messages = []
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise InvalidFieldError(where, f"must be an object, not {_type_name(item)}")
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:
            allowed = ", ".join(sorted(ROLES))
            raise InvalidFieldError(f"{where}.role", f"must be one of {allowed}")
        if "content" not in item and role != "assistant":
            raise InvalidFieldError(f"{where}.content", "is required")
        content = _content(item.get("content"), f"{where}.content", role)
        messages.append(ChatMessage(cast(Role, role), content))
    if all(message.role in ("system", "developer") for message in messages):
        raise InvalidFieldError(param, "must contain at least one user or assistant message")
    return messages


def _stop(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidFieldError("stop", "must be a string or an array of strings")
    if len(value) > MAX_STOP_SEQUENCES:
        raise InvalidFieldError("stop", f"must have at most {MAX_STOP_SEQUENCES} sequences")
    return tuple(value)


def parse_chat_completion(body: Any) -> ChatCompletionRequest:
    body = _object(body)
    _refuse_unsupported(body)
    agent = body.get("model")
    if not isinstance(agent, str) or not agent:
        raise InvalidFieldError("model", "is required: the name of an agent (GET /v1/models)")
    messages = parse_messages(body.get("messages"))
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidFieldError("n", "only n=1 is supported")
    # Both are checked even though max_completion_tokens wins: an invalid field never passes.
    max_completion_tokens = _positive_int(body, "max_completion_tokens")
    legacy_max_tokens = _positive_int(body, "max_tokens")
    max_tokens = legacy_max_tokens if max_completion_tokens is None else max_completion_tokens
    stream = _bool(body, "stream")
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise InvalidFieldError(
                "stream_options", f"must be an object, not {_type_name(stream_options)}"
            )
        value = stream_options.get("include_usage", False)
        if not isinstance(value, bool):
            raise InvalidFieldError("stream_options.include_usage", "must be a boolean")
        include_usage = value
    options = RunOptions(
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0, 2),
        top_p=_number(body, "top_p", 0, 1),
        stop=_stop(body),
        user=_string(body, "user"),
    )
    return ChatCompletionRequest(agent, messages, options, stream, include_usage)


RUN_FIELDS = frozenset({"input", "stream", "metadata"})


def parse_run(body: Any) -> RunRequest:
    body = _object(body)
    unknown = sorted(set(body) - RUN_FIELDS)
    if unknown:
        name = unknown[0]
        if len(name) > MAX_QUOTED_NAME:
            name = name[:MAX_QUOTED_NAME] + "..."
        raise InvalidFieldError(name, "unknown field (allowed: input, stream, metadata)")
    value = body.get("input")
    if isinstance(value, str):
        if not value.strip():
            raise InvalidFieldError("input", "must not be empty")
        messages = [ChatMessage("user", value)]
    elif isinstance(value, list):
        messages = parse_messages(value, "input")
    elif value is None:
        raise InvalidFieldError("input", "is required: a string or an array of messages")
    else:
        raise InvalidFieldError(
            "input", f"must be a string or an array of messages, not {_type_name(value)}"
        )
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise InvalidFieldError("metadata", f"must be an object, not {_type_name(metadata)}")
    elif len(metadata) > MAX_METADATA_KEYS:
        raise InvalidFieldError("metadata", f"must have at most {MAX_METADATA_KEYS} keys")
    return RunRequest(messages, _bool(body, "stream"), metadata)
