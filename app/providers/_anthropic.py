"""Anthropic Messages over the official SDK, translated to and from the OpenAI-style model."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from types import ModuleType
from typing import Any, ClassVar, cast

import anthropic
from anthropic.resources.messages.messages import DEPRECATED_MODELS
from anthropic.types import MessageParam

from ._base import SDKAdapter
from ._errors import ErrorKind, ProviderError
from ._models import ChatMessage, ChatParams, Completion, FinishReason, StreamEnd, StreamItem, Usage

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

    System and developer messages join the agent's system prompt; consecutive messages of the
    same role are merged because Anthropic expects user and assistant turns to alternate.
    """
    system_parts = [system] if system.strip() else []
    turns: list[dict[str, str]] = []
    for message in messages:
        if not message.content.strip():
            # Anthropic refuses empty or whitespace-only text (except a final prefill); an
            # empty OpenAI-style message carries nothing, so it is left out.
            continue
        if message.role in ("system", "developer"):
            system_parts.append(message.content)
        elif turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if turns and turns[-1]["role"] == "assistant":
        # A final assistant turn is a prefill, which must not end with whitespace.
        turns[-1]["content"] = turns[-1]["content"].rstrip()
    return "\n\n".join(system_parts), cast(list[MessageParam], turns)


def user_id(user: str) -> str:
    """``metadata.user_id`` holds at most 256 characters: a longer OpenAI ``user`` is sent as
    its SHA-256 (still opaque and stable, as Anthropic asks for)."""
    if len(user) <= USER_ID_MAX:
        return user
    return hashlib.sha256(user.encode()).hexdigest()


class AnthropicProvider(SDKAdapter):
    name = "anthropic"
    sdk: ClassVar[ModuleType] = anthropic
    client_class = "AsyncAnthropic"
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
        return body

    def _completion(self, data: Any, model: str) -> Completion:
        text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
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
        )

    async def _read_stream(
        self, events: AsyncIterator[Any], model: str
    ) -> AsyncGenerator[StreamItem, None]:
        prompt_tokens = completion_tokens = 0
        stop_reason: str | None = None
        answered_model = model
        finished = False
        async for event in events:
            kind = event["type"]
            if kind == "content_block_delta":
                delta = event["delta"]
                if delta.get("type") == "text_delta" and delta["text"]:
                    if not isinstance(delta["text"], str):
                        raise TypeError("text delta is not a string")
                    yield delta["text"]
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
