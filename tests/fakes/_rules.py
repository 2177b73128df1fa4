"""The request rules the real APIs enforce, so a body they would refuse fails in tests too.

Each body is validated with the official SDK's own request type (a pydantic ``TypeAdapter`` over
``openai.types.chat.CompletionCreateParams`` or ``anthropic.types.MessageCreateParams``, strict, on
the raw JSON), top-level keys the type does not declare are refused as the APIs refuse them, and
the documented cross-field rules are checked. A refusal carries the real API's status, error type
and message shape:

- OpenAI: ``{"error": {"message", "type": "invalid_request_error", "param", "code"}}``, e.g.
  ``Unrecognized request argument supplied: tools`` (param and code null) or
  ``Invalid 'temperature': decimal above maximum value. ...`` (``decimal_above_max_value``).
- Anthropic: ``{"type": "error", "error": {"type": "invalid_request_error", "message"},
  "request_id"}`` with ``<field path>: <problem>`` messages, e.g. ``temperature: Extra inputs are
  not permitted``. The SDK pinned in app/requirements.txt sends ``anthropic-version: 2026-10-21``,
  whose request type has no ``temperature``, ``top_p`` or ``top_k``; with ``2023-06-01`` those are
  accepted under that version's rules (temperature 0-1, not together with ``top_p``).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

ANTHROPIC_VERSIONS = ("2023-06-01", "2026-10-21")
LEGACY_ANTHROPIC_VERSION = "2023-06-01"
LEGACY_SAMPLING = frozenset({"temperature", "top_p", "top_k"})
ANTHROPIC_USER_ID_MAX = 256
OPENAI_MAX_STOP = 4
BOTH_SAMPLING = (
    "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
)
NON_EMPTY = (
    "all messages must have non-empty content except for the optional final assistant message"
)

_request_ids = itertools.count(1)


class Rejected(Exception):
    """A request the real API answers with ``status`` and ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


@functools.cache
def _openai_adapter(stream: bool) -> tuple[TypeAdapter[Any], frozenset[str]]:
    from openai.types.chat import completion_create_params as params

    fields = frozenset(params.CompletionCreateParamsBase.__annotations__) | {"stream"}
    kind = (
        params.CompletionCreateParamsStreaming
        if stream
        else params.CompletionCreateParamsNonStreaming
    )
    return TypeAdapter(kind), fields


@functools.cache
def _anthropic_adapter(stream: bool) -> tuple[TypeAdapter[Any], frozenset[str]]:
    from anthropic.types import message_create_params as params

    fields = frozenset(params.MessageCreateParamsBase.__annotations__) | {"stream"}
    kind = params.MessageCreateParamsStreaming if stream else params.MessageCreateParamsNonStreaming
    return TypeAdapter(kind), fields


class _Invalid(Exception):
    def __init__(self, loc: tuple[int | str, ...], message: str, kind: str) -> None:
        super().__init__(message)
        self.loc, self.message, self.kind = loc, message, kind


def _first(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> _Invalid:
    error = exc.errors()[0]
    loc = prefix + tuple(part for part in error["loc"] if not _is_branch(part))
    return _Invalid(loc, error["msg"], error["type"])


def _is_branch(part: int | str) -> bool:
    """Union branch labels in pydantic error locations (``str``, ``TextBlockParam``...)."""
    if isinstance(part, int):
        return False
    return "[" in part or part[:1].isupper() or part in ("str", "int", "float", "bool", "list")


def _materialize(value: Any, loc: tuple[int | str, ...]) -> None:
    """Pydantic validates ``Iterable`` fields lazily: walk them so every item is checked."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _materialize(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _materialize(item, (*loc, index))
    elif isinstance(value, Iterator):
        index = 0
        while True:
            try:
                item = next(value)
            except StopIteration:
                return
            except ValidationError as exc:
                raise _first(exc, loc) from None
            _materialize(item, (*loc, index))
            index += 1


def _validate(adapter: TypeAdapter[Any], body: Mapping[str, Any]) -> None:
    """Raise :class:`_Invalid` for the first problem, lazily validated items included."""
    try:
        validated = adapter.validate_python(body, strict=True)
    except ValidationError as exc:
        raise _first(exc) from None
    _materialize(validated, ())


# ----------------------------------------------------------------------------------- OpenAI


def openai_error(
    message: str, param: str | None = None, code: str | None = None, status: int = 400
) -> Rejected:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return Rejected(status, {"error": error})


def _openai_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _json_object(raw: bytes, rejected: Rejected) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise rejected from None
    if not isinstance(body, dict):
        raise rejected
    return body


def check_openai(raw: bytes) -> dict[str, Any]:
    """The body of a valid ``POST /v1/chat/completions``, or :class:`Rejected`."""
    body = _json_object(
        raw,
        openai_error(
            "We could not parse the JSON body of your request. (HINT: This likely means you"
            " aren't using your HTTP library correctly. The OpenAI API expects a JSON payload,"
            " but what was sent was not valid JSON."
        ),
    )
    adapter, fields = _openai_adapter(body.get("stream") is True)
    unknown = sorted(set(body) - fields)
    if len(unknown) == 1:
        raise openai_error(f"Unrecognized request argument supplied: {unknown[0]}")
    if unknown:
        raise openai_error(f"Unrecognized request arguments supplied: {', '.join(unknown)}")
    for name in ("model", "messages"):
        if name not in body:
            raise openai_error(
                f"Missing required parameter: '{name}'.", name, "missing_required_parameter"
            )
    if body.get("messages") == []:
        raise openai_error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got"
            " an empty array instead.",
            "messages",
            "empty_array",
        )
    _openai_range(body, "temperature", 0, 2)
    _openai_range(body, "top_p", 0, 1)
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > OPENAI_MAX_STOP:
        raise openai_error(
            f"Invalid 'stop': array too long. Expected an array with maximum length"
            f" {OPENAI_MAX_STOP}, but got an array with length {len(stop)} instead.",
            "stop",
            "array_above_max_length",
        )
    if body.get("stream_options") is not None and not body.get("stream"):
        raise openai_error(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    try:
        _validate(adapter, body)
    except _Invalid as exc:
        param = _openai_path(exc.loc)
        kind = "type" if exc.kind.endswith(("_type", "_parsing")) else "value"
        raise openai_error(
            f"Invalid {kind} for '{param}': {exc.message}.", param, f"invalid_{kind}"
        ) from None
    check_openai_tools(body)
    return body


def _openai_range(body: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return  # the type check reports it
    if value > high:
        raise openai_error(
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {high:g},"
            f" but got {value:g} instead.",
            name,
            "decimal_above_max_value",
        )
    if value < low:
        raise openai_error(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {low:g},"
            f" but got {value:g} instead.",
            name,
            "decimal_below_min_value",
        )


# -------------------------------------------------------------------------------- Anthropic


def anthropic_error(
    message: str, status: int = 400, error_type: str = "invalid_request_error"
) -> Rejected:
    return Rejected(
        status,
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": f"req_fake{next(_request_ids):016d}",
        },
    )


def _texts(content: Any) -> list[str] | None:
    """The text of a message's content (a string or text blocks); None for other blocks."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        texts = []
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "text":
                return None
            texts.append(block.get("text", ""))
        return texts
    return None


def check_anthropic(raw: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The body of a valid ``POST /v1/messages``, or :class:`Rejected`."""
    version = headers.get("anthropic-version")
    if version is None:
        raise anthropic_error("anthropic-version: header is required")
    if version not in ANTHROPIC_VERSIONS:
        raise anthropic_error(f"anthropic-version: invalid version {version!r}")
    body = _json_object(raw, anthropic_error("There was an issue with your request JSON"))
    adapter, fields = _anthropic_adapter(body.get("stream") is True)
    legacy = version == LEGACY_ANTHROPIC_VERSION
    allowed = fields | LEGACY_SAMPLING if legacy else fields
    if unknown := sorted(set(body) - allowed):
        raise anthropic_error(f"{unknown[0]}: Extra inputs are not permitted")
    sampling = {name: body.pop(name) for name in LEGACY_SAMPLING & set(body)}
    try:
        _validate(adapter, body)
    except _Invalid as exc:
        path = ".".join(str(part) for part in exc.loc)
        raise anthropic_error(f"{path}: {exc.message}") from None
    finally:
        body.update(sampling)
    if legacy:
        _legacy_sampling(sampling)
    messages = body["messages"]
    if not messages:
        raise anthropic_error("messages: at least one message is required")
    last = len(messages) - 1
    for index, message in enumerate(messages):
        texts = _texts(message.get("content"))
        if texts is None:
            continue
        final_assistant = index == last and message["role"] == "assistant"
        if not any(texts) and not final_assistant:
            raise anthropic_error(f"messages.{index}: {NON_EMPTY}")
        if isinstance(message["content"], list):
            if any(text == "" for text in texts):
                raise anthropic_error("messages: text content blocks must be non-empty")
            if any(not text.strip() for text in texts):
                raise anthropic_error(
                    "messages: text content blocks must contain non-whitespace text"
                )
        if final_assistant and texts and texts[-1] != texts[-1].rstrip():
            raise anthropic_error(
                "messages: final assistant content cannot end with trailing whitespace"
            )
    check_anthropic_tools(body)
    if body.get("system") == "":
        raise anthropic_error("system: text content blocks must be non-empty")
    user_id = (body.get("metadata") or {}).get("user_id")
    if isinstance(user_id, str) and len(user_id) > ANTHROPIC_USER_ID_MAX:
        raise anthropic_error(
            f"metadata.user_id: String should have at most {ANTHROPIC_USER_ID_MAX} characters"
        )
    return body


def _legacy_sampling(sampling: Mapping[str, Any]) -> None:
    for name, (low, high) in {"temperature": (0, 1), "top_p": (0, 1)}.items():
        value = sampling.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise anthropic_error(f"{name}: Input should be a valid number")
        if not low <= value <= high:
            raise anthropic_error(f"{name}: range: {low}..{high}")
    if sampling.get("temperature") is not None and sampling.get("top_p") is not None:
        raise anthropic_error(BOTH_SAMPLING)


# ------------------------------------------------------------------------------------ Tools
# The tool rules both APIs enforce beyond their request types (the SDK types accept any dict
# as a schema and any string as a name). Messages are the real APIs' wording where known.

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
OPENAI_NAME_PATTERN = "^[a-zA-Z0-9_-]+$"
OPENAI_NAME_MAX = 64


def _openai_name(value: Any, param: str) -> None:
    if not isinstance(value, str):
        return  # the type check reports it
    if len(value) > OPENAI_NAME_MAX:
        raise openai_error(
            f"Invalid '{param}': string too long. Expected a string with maximum length"
            f" {OPENAI_NAME_MAX}, but got a string with length {len(value)} instead.",
            param,
            "string_above_max_length",
        )
    if not TOOL_NAME.match(value):
        raise openai_error(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches"
            f" the pattern '{OPENAI_NAME_PATTERN}'.",
            param,
            "invalid_value",
        )


def check_openai_tools(body: Mapping[str, Any]) -> None:
    """Tool definitions, tool_choice, tool messages and response_format (after the type)."""
    tools = body.get("tools")
    if tools == []:
        raise openai_error(
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an"
            " empty array instead.",
            "tools",
            "empty_array",
        )
    names = []
    for index, tool in enumerate(tools or ()):
        function = tool.get("function") or {}
        _openai_name(function.get("name"), f"tools[{index}].function.name")
        names.append(function.get("name"))
        parameters = function.get("parameters")
        if parameters is not None and parameters.get("type") != "object":
            raise openai_error(
                f"Invalid schema for function '{function.get('name')}': schema must be a JSON"
                f" Schema of 'type: \"object\"', got 'type: \"{parameters.get('type')}\"'.",
                f"tools[{index}].function.parameters",
                "invalid_function_parameters",
            )
    for name in ("tool_choice", "parallel_tool_calls"):
        if body.get(name) is not None and not tools:
            raise openai_error(
                f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are specified.",
                name,
            )
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        wanted = (choice.get("function") or {}).get("name")
        if wanted not in names:
            raise openai_error(
                f"Invalid value for 'tool_choice': function '{wanted}' not found in 'tools'.",
                "tool_choice",
            )
    _openai_tool_messages(body["messages"])
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        _openai_name(
            (response_format.get("json_schema") or {}).get("name"),
            "response_format.json_schema.name",
        )
    if response_format.get("type") == "json_object" and not any(
        "json" in text.lower() for text in _openai_texts(body["messages"])
    ):
        raise openai_error(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of"
            " type 'json_object'.",
            "messages",
        )


def _openai_texts(messages: list[Any]) -> Iterator[str]:
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            yield from (part.get("text", "") for part in content if isinstance(part, dict))


def _openai_tool_messages(messages: list[Any]) -> None:
    """A tool message answers a call of the assistant message right before the run of tool
    messages it is in; every call of that assistant message is answered."""
    open_calls: dict[str, int] = {}
    for index, message in enumerate(messages):
        if message.get("role") == "tool":
            if open_calls.pop(message.get("tool_call_id"), None) is None:
                raise openai_error(
                    "Invalid parameter: messages with role 'tool' must be a response to a"
                    " preceeding message with 'tool_calls'.",
                    f"messages.[{index}].role",
                )
            continue
        _openai_unanswered(open_calls)
        if message.get("role") == "assistant":
            open_calls = {call["id"]: index for call in message.get("tool_calls") or ()}
    _openai_unanswered(open_calls)


def _openai_unanswered(open_calls: dict[str, int]) -> None:
    if open_calls:
        index = next(iter(open_calls.values()))
        raise openai_error(
            "An assistant message with 'tool_calls' must be followed by tool messages responding"
            " to each 'tool_call_id'. The following tool_call_ids did not have response"
            f" messages: {', '.join(open_calls)}",
            f"messages.[{index}].role",
        )


def _blocks(message: Mapping[str, Any], kind: str) -> list[tuple[int, dict[str, Any]]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [(i, block) for i, block in enumerate(content) if block.get("type") == kind]


def check_anthropic_tools(body: Mapping[str, Any]) -> None:
    """Tool definitions, tool_choice, tool_use/tool_result pairing and output_config.format."""
    tools = body.get("tools") or []
    names: list[str] = []
    for index, tool in enumerate(tools):
        if tool.get("type", "custom") != "custom":
            continue  # a server tool, named by its type
        if not TOOL_NAME.match(tool["name"]):
            raise anthropic_error(
                f"tools.{index}.custom.name: String should match pattern '{TOOL_NAME.pattern}'"
            )
        if tool["input_schema"].get("type") != "object":
            raise anthropic_error(
                f"tools.{index}.custom.input_schema.type: Input should be 'object'"
            )
        if tool["name"] in names:
            raise anthropic_error("tools: Tool names must be unique.")
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None and not tools:
        raise anthropic_error(
            "tool_choice: tool_choice may only be specified while providing tools."
        )
    if choice is not None and choice.get("type") == "tool" and choice.get("name") not in names:
        raise anthropic_error(f"tool_choice.name: Tool '{choice.get('name')}' not found in tools.")
    messages = body["messages"]
    if not tools and any(
        _blocks(message, "tool_use") or _blocks(message, "tool_result") for message in messages
    ):
        raise anthropic_error(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )
    for index, message in enumerate(messages):
        for position, block in _blocks(message, "tool_use"):
            if not TOOL_USE_ID.match(block["id"]):
                raise anthropic_error(
                    f"messages.{index}.content.{position}.tool_use.id: String should match"
                    f" pattern '{TOOL_USE_ID.pattern}'"
                )
        for _, block in _blocks(message, "text"):
            if not block.get("text", "").strip():
                raise anthropic_error(
                    "messages: text content blocks must contain non-whitespace text"
                )
        previous = messages[index - 1] if index else {}
        asked = [block["id"] for _, block in _blocks(previous, "tool_use")]
        for position, block in _blocks(message, "tool_result"):
            if block["tool_use_id"] not in asked:
                raise anthropic_error(
                    f"messages.{index}.content.{position}: unexpected `tool_use_id` found in"
                    f" `tool_result` blocks: {block['tool_use_id']}. Each `tool_result` block"
                    " must have a corresponding `tool_use` block in the previous message."
                )
    for index, message in enumerate(messages):
        uses = _blocks(message, "tool_use")
        if not uses:
            continue
        following = messages[index + 1] if index + 1 < len(messages) else {}
        answered = {block["tool_use_id"] for _, block in _blocks(following, "tool_result")}
        missing = [block["id"] for _, block in uses if block["id"] not in answered]
        if missing:
            raise anthropic_error(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks"
                f" immediately after: {', '.join(missing)}. Each `tool_use` block must have a"
                " corresponding `tool_result` block in the next message."
            )
        content = following["content"]
        if any(block.get("type") != "tool_result" for block in content[: len(answered)]):
            raise anthropic_error(
                f"messages.{index + 1}: Did not find {len(answered)} `tool_result` block(s) at"
                " the beginning of this message. Messages following `tool_use` blocks must"
                " begin with a matching number of `tool_result` blocks."
            )
    fmt = (body.get("output_config") or {}).get("format")
    if fmt is not None:
        _closed_objects(fmt["schema"], "output_config.format.schema")


def _closed_objects(schema: Any, path: str) -> None:
    """Structured outputs: every object schema sets ``additionalProperties: false``."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            _closed_objects(item, f"{path}.{index}")
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
        raise anthropic_error(
            f"{path}: For 'object' type, 'additionalProperties' must be explicitly set to false"
        )
    for key in ("properties", "$defs", "definitions"):
        for name, item in (schema.get(key) or {}).items():
            _closed_objects(item, f"{path}.{key}.{name}")
    for key in ("items", "anyOf", "allOf", "oneOf"):
        if key in schema:
            _closed_objects(schema[key], f"{path}.{key}")
