"""Anthropic Messages over the official SDK, translated to and from the OpenAI-style model."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import anthropic
import httpx2
from anthropic.types import MessageParam

from ._errors import ErrorKind, ProviderError, is_timeout, status_error, stream_error
from ._models import ChatMessage, ChatParams, Completion, FinishReason, StreamEnd, StreamItem, Usage

DEFAULT_API_BASE = "https://api.anthropic.com"

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


def translate_messages(
    system: str, messages: Sequence[ChatMessage]
) -> tuple[str, list[MessageParam]]:
    """Split OpenAI-style messages into Anthropic's ``system`` and alternating turns.

    System and developer messages join the agent's system prompt; consecutive messages of the
    same role are merged because Anthropic expects user and assistant turns to alternate.
    """
    system_parts = [system] if system else []
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            system_parts.append(message.content)
        elif turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return "\n\n".join(system_parts), cast(list[MessageParam], turns)


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

    def _arguments(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> dict[str, Any]:
        system_prompt, turns = translate_messages(system, messages)
        arguments: dict[str, Any] = {
            "model": model,
            "max_tokens": params.max_tokens,
            "messages": turns,
        }
        if system_prompt:
            arguments["system"] = system_prompt
        if params.stop:
            arguments["stop_sequences"] = list(params.stop)
        if params.user:
            arguments["metadata"] = {"user_id": params.user}
        # Sampling options are not typed parameters of this SDK version; the API accepts them.
        sampling = {"temperature": params.temperature, "top_p": params.top_p}
        extra = {name: value for name, value in sampling.items() if value is not None}
        if extra:
            arguments["extra_body"] = extra
        return arguments

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion:
        arguments = self._arguments(model, system, messages, params)
        try:
            message = await self._client.messages.create(**arguments, stream=False)
        except Exception as exc:
            raise self._error(exc) from exc
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = message.usage
        return Completion(
            text=text,
            finish_reason=finish_reason(message.stop_reason),
            usage=Usage(usage.input_tokens or 0, usage.output_tokens),
            model=message.model or model,
        )

    async def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        arguments = self._arguments(model, system, messages, params)
        try:
            upstream = await self._client.messages.create(**arguments, stream=True)
        except Exception as exc:
            raise self._error(exc) from exc
        try:
            prompt_tokens = completion_tokens = 0
            stop_reason: str | None = None
            answered_model = model
            finished = False
            try:
                async for event in upstream:
                    if event.type == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield event.delta.text
                    elif event.type == "message_start":
                        answered_model = event.message.model or model
                        prompt_tokens = event.message.usage.input_tokens or 0
                        completion_tokens = event.message.usage.output_tokens
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        completion_tokens = event.usage.output_tokens
                        if event.usage.input_tokens is not None:
                            prompt_tokens = event.usage.input_tokens
                    elif event.type == "message_stop":
                        finished = True
            except Exception as exc:
                raise self._error(exc) from exc
            if not finished:
                raise ProviderError(
                    ErrorKind.CONNECTION,
                    "anthropic stream ended before the message finished",
                    provider=self.name,
                )
            usage = Usage(prompt_tokens, completion_tokens)
            yield StreamEnd(finish_reason(stop_reason), usage, answered_model)
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
    if isinstance(exc, json.JSONDecodeError | anthropic.APIResponseValidationError | ValueError):
        return ProviderError(
            ErrorKind.BAD_RESPONSE, f"{provider} returned a malformed response", provider=provider
        )
    raise exc
