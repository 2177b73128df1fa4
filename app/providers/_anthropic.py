"""Anthropic Messages over the official SDK, translated to and from the OpenAI-style model.

Like the OpenAI adapter, calls go through the SDK's generic ``post`` with ``cast_to=object``: the
SDK still does auth, retries, timeouts, errors and SSE decoding, without the per-call request
transform and response model construction (see ``_openai.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import anthropic
import httpx2
from anthropic.resources.messages.messages import DEPRECATED_MODELS
from anthropic.types import MessageParam

from ._errors import (
    ErrorKind,
    ProviderError,
    is_timeout,
    status_error,
    stream_error,
    unfinished_stream_error,
)
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


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str | None,
        max_retries: int,
        timeout: float,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._key = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=api_base or DEFAULT_API_BASE,
            max_retries=max_retries,
            timeout=timeout,
            http_client=http_client,
            open_telemetry=False,
        )

    async def aclose(self) -> None:
        await self._client.close()

    def rotate_key(self, api_key: str) -> None:
        # The SDK builds the auth header from client.api_key on every request.
        self._key = api_key
        self._client.api_key = api_key

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

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion:
        body = self._body(model, system, messages, params)
        try:
            data: Any = await self._client.post(PATH, body=body, cast_to=object)
            text = "".join(
                block["text"] for block in data["content"] if block.get("type") == "text"
            )
            usage = data["usage"]
            prompt_tokens, completion_tokens = _tokens(usage, usage.get("input_tokens"))
            answered_model = data.get("model") or model
            finish = finish_reason(data.get("stop_reason"))
            if not isinstance(answered_model, str):
                raise TypeError("model is not a string")
        except Exception as exc:
            raise self._error(exc) from exc
        return Completion(
            text=text,
            finish_reason=finish,
            usage=Usage(prompt_tokens, completion_tokens),
            model=answered_model,
        )

    async def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        body = self._body(model, system, messages, params)
        body["stream"] = True
        try:
            upstream = await self._client.post(
                PATH,
                body=body,
                cast_to=object,
                stream=True,
                stream_cls=anthropic.AsyncStream[object],
            )
        except Exception as exc:
            raise self._error(exc) from exc
        try:
            prompt_tokens = completion_tokens = 0
            stop_reason: str | None = None
            answered_model = model
            finished = False
            try:
                event: Any
                async for event in upstream:
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
            except Exception as exc:
                raise self._error(exc) from exc
            if not finished:
                raise unfinished_stream_error(
                    self.name, upstream.response.headers.get("content-type"), "the message finished"
                )
            usage_total = Usage(prompt_tokens, completion_tokens)
            yield StreamEnd(finish_reason(stop_reason), usage_total, answered_model)
        finally:
            await upstream.close()

    def _error(self, exc: Exception) -> ProviderError:
        return classify(exc, self.name, self._key)


def classify(exc: Exception, provider: str, secret: str | None) -> ProviderError:
    """Map an Anthropic SDK (or transport) exception to a :class:`ProviderError`."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException) and is_timeout(exc):
        return ProviderError(ErrorKind.TIMEOUT, f"{provider} request timed out", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        return ProviderError(
            ErrorKind.CONNECTION, f"connection to {provider} failed", provider=provider
        )
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code == 200:
            # An ``error`` event inside a stream that had started successfully.
            return stream_error(provider, exc.body, secret)
        headers = exc.response.headers
        return status_error(provider, exc.status_code, exc.body, headers, secret)
    if isinstance(
        exc,
        json.JSONDecodeError
        | anthropic.APIResponseValidationError
        | ValueError
        | KeyError
        | IndexError
        | TypeError
        | AttributeError,
    ):
        return ProviderError(
            ErrorKind.BAD_RESPONSE, f"{provider} returned a malformed response", provider=provider
        )
    raise exc
