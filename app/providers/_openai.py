"""OpenAI Chat Completions (and OpenAI-compatible servers) over the official SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from types import ModuleType
from typing import Any, ClassVar

import openai

from ._base import SDKAdapter
from ._errors import ErrorKind, ProviderError, redact
from ._models import ChatMessage, ChatParams, Completion, FinishReason, StreamEnd, StreamItem, Usage

DEFAULT_API_BASE = "https://api.openai.com/v1"
PATH = "/chat/completions"

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class OpenAIProvider(SDKAdapter):
    name = "openai"
    sdk: ClassVar[ModuleType] = openai
    client_class = "AsyncOpenAI"
    default_api_base = DEFAULT_API_BASE
    path = PATH
    # Usage is always asked for: token metrics need it even when the caller does not.
    stream_fields: ClassVar[dict[str, Any]] = {
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    stream_end = "the completion finished"

    def _body(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> dict[str, Any]:
        wire = [{"role": "system", "content": system}] if system else []
        wire.extend({"role": message.role, "content": message.content} for message in messages)
        body: dict[str, Any] = {
            "model": model,
            "messages": wire,
            "max_completion_tokens": params.max_tokens,
        }
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop"] = list(params.stop)
        if params.user is not None:
            body["user"] = params.user
        return body

    def _completion(self, data: Any, model: str) -> Completion:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        finish = _FINISH.get(choice.get("finish_reason") or "stop", "stop")
        usage = _usage(data.get("usage"))
        answered_model = data.get("model") or model
        if not isinstance(text, str) or not isinstance(answered_model, str):
            raise TypeError("unexpected types in the completion")
        return Completion(text=text, finish_reason=finish, usage=usage, model=answered_model)

    async def _read_stream(
        self, events: AsyncIterator[Any], model: str
    ) -> AsyncGenerator[StreamItem, None]:
        finish: FinishReason | None = None
        usage = Usage()
        answered_model = model
        async for chunk in events:
            choices = chunk.get("choices")
            if choices:
                choice = choices[0]
                text = choice["delta"].get("content")
                if text:
                    if not isinstance(text, str):
                        raise TypeError("delta content is not a string")
                    yield text
                reason = choice.get("finish_reason")
                if reason is not None:
                    finish = _FINISH.get(reason, "stop")
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
                yield usage
            answered_model = chunk.get("model") or answered_model
        if finish is not None:
            yield StreamEnd(finish, usage, answered_model)

    def _stream_error_event(self, exc: Exception) -> ProviderError | None:
        # The SDK raises an error object inside a 200 stream as a plain APIError.
        if isinstance(exc, openai.APIError):
            message = redact(exc.message, self._key)
            return ProviderError(ErrorKind.OVERLOADED, message, provider=self.name)
        return None


def _usage(data: Any) -> Usage:
    if not data:
        return Usage()
    prompt, completion = data.get("prompt_tokens") or 0, data.get("completion_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise TypeError("usage counts are not integers")
    return Usage(prompt, completion)
