"""Anthropic Messages over the official SDK, translated to and from the OpenAI-style model."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar, cast

import anthropic
from anthropic import transform_schema
from anthropic._base_client import log as sdk_log
from anthropic._models import FinalRequestOptions
from anthropic._utils import strip_not_given
from anthropic._utils._json import openapi_dumps
from anthropic.resources.messages.messages import DEPRECATED_MODELS
from anthropic.types import MessageParam

from ._base import SDKAdapter
from ._errors import ErrorKind, ProviderError, stream_error
from ._models import (
    ChatMessage,
    ChatParams,
    Completion,
    FinishReason,
    JSONSchemaFormat,
    NamedToolChoice,
    StreamEnd,
    StreamItem,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
from ._sse import ServerSentEvent, event_json
from ._templates import SDKParts, TemplatedRequests, header_items

DEFAULT_API_BASE = "https://api.anthropic.com"
PATH = "/v1/messages"
# The API version the pinned SDK sends (anthropic._constants.ANTHROPIC_API_VERSION = 2026-10-21)
# has no temperature, top_p or top_k: they are refused with 400, so they are never sent.
USER_ID_MAX = 256

FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]+")
TOOL_CHOICE_TYPES = {"auto": "auto", "required": "any", "none": "none"}
# Anthropic has no JSON mode: `json_object` (and a `json_schema` format without a schema) asks for
# it in the system prompt. A `json_schema` format with a schema uses structured outputs instead.
JSON_INSTRUCTION = (
    "Answer with a single valid JSON object and nothing else: no prose and no code fences."
)


def finish_reason(stop_reason: str | None) -> FinishReason:
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def end_of_life(model: str) -> str | None:
    """The end-of-life date the SDK announces for a deprecated model (its ``messages.create``
    would warn on every call; calls here go through ``post``, so the server warns once)."""
    return DEPRECATED_MODELS.get(model)


def _tokens(usage: Any, input_tokens: Any) -> tuple[int, int]:
    prompt, completion = input_tokens or 0, usage.get("output_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise TypeError("token counts are not integers")
    return prompt, completion


def translate_messages(
    system: str, messages: Sequence[ChatMessage]
) -> tuple[str, list[MessageParam]]:
    """Split OpenAI-style messages into Anthropic's ``system`` and alternating turns.

    System and developer messages join the agent's system prompt. Assistant tool calls become
    ``tool_use`` blocks and ``tool`` messages ``tool_result`` blocks of a user turn (ids and
    order kept). Consecutive turns of the same role are merged because Anthropic expects user
    and assistant turns to alternate; a merged user turn holds its tool results first, as
    Anthropic requires. A turn of text only is sent as one string.
    """
    system_parts = [system] if system.strip() else []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            if message.content.strip():
                system_parts.append(message.content)
            continue
        blocks = _blocks(message)
        if not blocks:
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        blocks = sorted(turn["content"], key=lambda block: block["type"] != "tool_result")
        if turn is turns[-1] and turn["role"] == "assistant" and blocks[-1]["type"] == "text":
            # A final assistant turn is a prefill, which must not end with whitespace.
            blocks[-1]["text"] = blocks[-1]["text"].rstrip()
        if all(block["type"] == "text" for block in blocks):
            turn["content"] = "\n\n".join(block["text"] for block in blocks)
        else:
            turn["content"] = blocks
    return "\n\n".join(system_parts), cast(list[MessageParam], turns)


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": tool_use_id(message.tool_call_id or ""),
        }
        if message.content:
            block["content"] = message.content
        return [block]
    # Anthropic refuses empty or whitespace-only text (except a final prefill); an empty
    # OpenAI-style message carries nothing, so it is left out.
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": message.content}] if message.content.strip() else []
    )
    if message.role == "assistant":
        blocks += [
            {
                "type": "tool_use",
                "id": tool_use_id(call.id),
                "name": call.name,
                "input": _input(call),
            }
            for call in message.tool_calls
        ]
    return blocks


def tool_use_id(call_id: str) -> str:
    """Anthropic takes tool_use ids matching ``^[a-zA-Z0-9_-]+$`` only; another provider's id
    (or a client's own) that does not is replaced by a stable one, the same in ``tool_use`` and
    ``tool_result``."""
    if TOOL_USE_ID.fullmatch(call_id):
        return call_id
    return "toolu_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


def _input(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(
            ErrorKind.REQUEST,
            f"tool call {call.id!r}: arguments must be a JSON object for an Anthropic agent",
            provider="anthropic",
            status=400,
        )
    return value


def _tool(tool: Tool) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": tool.name, "input_schema": dict(tool.parameters)}
    if tool.description:
        wire["description"] = tool.description
    if tool.strict:
        # Strict tools take the structured-output schema subset: the SDK's own conversion.
        wire["input_schema"] = _converted(tool.parameters, f"tool {tool.name!r}")
        wire["strict"] = True
    return wire


def _converted(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``schema`` in the structured-output subset, converted by the SDK's own helper."""
    try:
        return transform_schema(dict(schema))
    except Exception:
        # The helper fails in assorted ways (AssertionError, ValueError, TypeError...) on
        # schemas it cannot convert; all of them are the client's schema, not a server bug.
        raise ProviderError(
            ErrorKind.REQUEST,
            f"{where}: the JSON schema cannot be converted to Anthropic's structured-output"
            " subset (each schema needs a single type, anyOf, allOf, const or enum)",
            provider="anthropic",
            status=400,
        ) from None


def _tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    if isinstance(choice, NamedToolChoice):
        wire: dict[str, Any] = {"type": "tool", "name": choice.name}
    else:
        wire = {"type": TOOL_CHOICE_TYPES[choice or "auto"]}
    if parallel is False and wire["type"] != "none":
        wire["disable_parallel_tool_use"] = True
    return wire


def _used_tools(turns: Sequence[Any]) -> list[str]:
    names: dict[str, None] = {}
    for turn in turns:
        content = turn["content"]
        if not isinstance(content, str):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    names[str(block["name"])] = None
    return list(names)


def user_id(user: str) -> str:
    """``metadata.user_id`` holds at most 256 characters: a longer OpenAI ``user`` is sent as
    its SHA-256 (still opaque and stable, as Anthropic asks for)."""
    if len(user) <= USER_ID_MAX:
        return user
    return hashlib.sha256(user.encode()).hexdigest()


def _arguments(value: Any) -> str:
    if not isinstance(value, dict):
        raise TypeError("tool_use input is not an object")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class AsyncAnthropic(TemplatedRequests, anthropic.AsyncAnthropic):
    """``anthropic.AsyncAnthropic`` building the adapter's requests from templates
    (:mod:`._templates`). Named as the SDK's class: the SDK sends its client's class name in
    the User-Agent."""

    sdk_parts = SDKParts(
        FinalRequestOptions, anthropic.NotGiven, openapi_dumps, strip_not_given, sdk_log
    )

    def template_inputs(self, options: Any) -> tuple[object, ...] | None:
        if self.default_query:
            return None
        return (
            header_items(self.default_headers),
            header_items(self._custom_headers),
            self._token_cache,
            self.base_url,
            self.timeout,
        )


class AnthropicProvider(SDKAdapter):
    name = "anthropic"
    sdk: ClassVar[ModuleType] = anthropic
    client_class = AsyncAnthropic
    client_options: ClassVar[dict[str, Any]] = {"open_telemetry": False}
    default_api_base = DEFAULT_API_BASE
    path = PATH
    stream_end = "the message finished"

    def _body(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> dict[str, Any]:
        system_prompt, turns = translate_messages(system, messages)
        if not turns:
            raise ProviderError(
                ErrorKind.REQUEST,
                "messages: at least one user or assistant message with non-empty content is"
                " required",
                provider=self.name,
                status=400,
            )
        body: dict[str, Any] = {"model": model, "max_tokens": params.max_tokens, "messages": turns}
        if system_prompt:
            body["system"] = system_prompt
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        if params.user:
            body["metadata"] = {"user_id": user_id(params.user)}
        if params.tools:
            body["tools"] = [_tool(tool) for tool in params.tools]
            choice = _tool_choice(params.tool_choice, params.parallel_tool_calls)
            if choice is not None:
                body["tool_choice"] = choice
        elif used := _used_tools(turns):
            # Anthropic refuses tool_use blocks without tool definitions, where OpenAI needs
            # none: the tools the history names are declared, and calling them is ruled out.
            body["tools"] = [{"name": name, "input_schema": {"type": "object"}} for name in used]
            body["tool_choice"] = {"type": "none"}
        response_format = params.response_format
        if isinstance(response_format, JSONSchemaFormat) and response_format.schema is not None:
            schema = _converted(response_format.schema, "response_format.json_schema.schema")
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif response_format is not None and response_format != "text":
            body["system"] = f"{system_prompt}\n\n{JSON_INSTRUCTION}".lstrip()
        return body

    def _completion(self, data: Any, model: str) -> Completion:
        text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
        calls = tuple(
            ToolCall(block["id"], block["name"], _arguments(block["input"]))
            for block in data["content"]
            if block.get("type") == "tool_use"
        )
        usage = data["usage"]
        prompt_tokens, completion_tokens = _tokens(usage, usage.get("input_tokens"))
        answered_model = data.get("model") or model
        finish = finish_reason(data.get("stop_reason"))
        if not isinstance(answered_model, str):
            raise TypeError("model is not a string")
        return Completion(
            text=text,
            finish_reason=finish,
            usage=Usage(prompt_tokens, completion_tokens),
            model=answered_model,
            tool_calls=calls,
        )

    async def _read_stream(
        self, events: AsyncIterator[ServerSentEvent], model: str
    ) -> AsyncGenerator[StreamItem, None]:
        prompt_tokens = completion_tokens = 0
        stop_reason: str | None = None
        answered_model = model
        finished = False
        # Content block index -> tool call index, and the calls that streamed input so far.
        tool_index: dict[int, int] = {}
        with_input: set[int] = set()
        async for name, data in events:
            # As the SDK's stream class reads them: only named events, pings skipped.
            if name is None or name == "ping" or (not data and name != "error"):
                continue
            if name == "error":
                raise self._error_event(data)
            event = event_json(data)
            kind = event["type"]
            if kind == "content_block_delta":
                delta = event["delta"]
                if delta.get("type") == "text_delta" and delta["text"]:
                    if not isinstance(delta["text"], str):
                        raise TypeError("text delta is not a string")
                    yield delta["text"]
                elif delta.get("type") == "input_json_delta" and delta["partial_json"]:
                    if not isinstance(delta["partial_json"], str):
                        raise TypeError("input_json_delta is not a string")
                    index = tool_index[event["index"]]
                    with_input.add(index)
                    yield ToolCallDelta(index, arguments=delta["partial_json"])
            elif kind == "content_block_start":
                block = event["content_block"]
                if block.get("type") == "tool_use":
                    index = tool_index[event["index"]] = len(tool_index)
                    if not isinstance(block["id"], str) or not isinstance(block["name"], str):
                        raise TypeError("tool_use id or name is not a string")
                    yield ToolCallDelta(index, id=block["id"], name=block["name"])
            elif kind == "content_block_stop":
                index = tool_index.get(event["index"], -1)
                if index >= 0 and index not in with_input:
                    # A call without input streams no input_json_delta; OpenAI's is "{}".
                    yield ToolCallDelta(index, arguments="{}")
            elif kind == "message_start":
                message = event["message"]
                answered_model = message.get("model") or model
                usage = message.get("usage") or {}
                prompt_tokens, completion_tokens = _tokens(usage, usage.get("input_tokens"))
                yield Usage(prompt_tokens, completion_tokens)
            elif kind == "message_delta":
                stop_reason = event["delta"].get("stop_reason") or stop_reason
                usage = event.get("usage") or {}
                prompt_tokens, completion_tokens = _tokens(
                    usage, usage.get("input_tokens") or prompt_tokens
                )
                yield Usage(prompt_tokens, completion_tokens)
            elif kind == "message_stop":
                finished = True
        if finished:
            usage_total = Usage(prompt_tokens, completion_tokens)
            yield StreamEnd(finish_reason(stop_reason), usage_total, answered_model)

    def _error_event(self, data: str) -> ProviderError:
        """An ``error`` event inside a 200 stream, classified by its error type."""
        body: object = data
        with contextlib.suppress(ValueError):
            body = json.loads(data)
        return stream_error(self.name, body, self._key)
