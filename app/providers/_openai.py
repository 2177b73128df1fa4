"""OpenAI Chat Completions (and OpenAI-compatible servers) over the official SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from ._errors import ErrorKind, ProviderError, is_timeout, redact, status_error
from ._models import ChatMessage, ChatParams, Completion, FinishReason, StreamEnd, StreamItem, Usage

DEFAULT_API_BASE = "https://api.openai.com/v1"

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class OpenAIProvider:
    name = "openai"

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
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=api_base or DEFAULT_API_BASE,
            max_retries=max_retries,
            timeout=timeout,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion:
        try:
            response = await self._client.chat.completions.create(
                model=model,
                messages=_messages(system, messages),
                stream=False,
                max_completion_tokens=params.max_tokens,
                temperature=_given(params.temperature),
                top_p=_given(params.top_p),
                stop=list(params.stop) if params.stop else openai.omit,
                user=_given(params.user),
            )
        except Exception as exc:
            raise self._error(exc) from exc
        if not response.choices:
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, "openai returned no choices", provider=self.name
            )
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=_FINISH.get(choice.finish_reason, "stop"),
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            model=response.model or model,
        )

    async def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        try:
            upstream = await self._client.chat.completions.create(
                model=model,
                messages=_messages(system, messages),
                stream=True,
                # Always asked for: token metrics need it even when the caller does not.
                stream_options={"include_usage": True},
                max_completion_tokens=params.max_tokens,
                temperature=_given(params.temperature),
                top_p=_given(params.top_p),
                stop=list(params.stop) if params.stop else openai.omit,
                user=_given(params.user),
            )
        except Exception as exc:
            raise self._error(exc) from exc
        try:
            finish: FinishReason | None = None
            usage = Usage()
            answered_model = model
            try:
                async for chunk in upstream:
                    if chunk.choices:
                        choice = chunk.choices[0]
                        text = choice.delta.content
                        if text:
                            yield text
                        if choice.finish_reason is not None:
                            finish = _FINISH.get(choice.finish_reason, "stop")
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    if chunk.model:
                        answered_model = chunk.model
            except Exception as exc:
                raise self._error(exc) from exc
            if finish is None:
                raise ProviderError(
                    ErrorKind.CONNECTION,
                    "openai stream ended before the completion finished",
                    provider=self.name,
                )
            yield StreamEnd(finish, usage, answered_model)
        finally:
            await upstream.close()

    def _error(self, exc: Exception) -> ProviderError:
        return classify(exc, self.name, self._key)


def classify(exc: Exception, provider: str, secret: str | None) -> ProviderError:
    """Map an OpenAI SDK (or transport) exception to a :class:`ProviderError`."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) and is_timeout(exc):
        return ProviderError(ErrorKind.TIMEOUT, f"{provider} request timed out", provider=provider)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return ProviderError(
            ErrorKind.CONNECTION, f"connection to {provider} failed", provider=provider
        )
    if isinstance(exc, openai.APIStatusError):
        headers = exc.response.headers
        return status_error(provider, exc.status_code, exc.body, headers, secret)
    if isinstance(exc, openai.APIError):
        # An error object inside a 200 stream.
        message = redact(exc.message, secret)
        return ProviderError(ErrorKind.OVERLOADED, message, provider=provider)
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError | ValueError):
        return ProviderError(
            ErrorKind.BAD_RESPONSE, f"{provider} returned a malformed response", provider=provider
        )
    raise exc


def _given(value: Any) -> Any:
    return openai.omit if value is None else value


def _messages(system: str, messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    out: list[ChatCompletionMessageParam] = []
    if system:
        out.append({"role": "system", "content": system})
    out.extend(
        cast(ChatCompletionMessageParam, {"role": message.role, "content": message.content})
        for message in messages
    )
    return out
