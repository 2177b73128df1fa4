"""OpenAI Chat Completions (and OpenAI-compatible servers) over the official SDK.

Requests go through the SDK's generic ``post`` with a body we build ourselves and ``cast_to=object``
(plain dicts back). That keeps everything the SDK is for (auth, retries with ``Retry-After``,
timeouts, error classes, SSE decoding, the transport) and skips its per-call TypedDict transform
of the request and model construction of the response, which cost ~0.5 ms per call: more than the
rest of the server's overhead together (``bench/transport_compare.py`` and ``make bench``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx2
import openai

from ._errors import (
    ErrorKind,
    ProviderError,
    is_timeout,
    redact,
    status_error,
    unfinished_stream_error,
)
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

    def rotate_key(self, api_key: str) -> None:
        # The SDK builds the auth header from client.api_key on every request.
        self._key = api_key
        self._client.api_key = api_key

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion:
        body = _body(model, system, messages, params)
        try:
            data: Any = await self._client.post(PATH, body=body, cast_to=object)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish = _FINISH.get(choice.get("finish_reason") or "stop", "stop")
            usage = _usage(data.get("usage"))
            answered_model = data.get("model") or model
            if not isinstance(text, str) or not isinstance(answered_model, str):
                raise TypeError("unexpected types in the completion")
        except Exception as exc:
            raise self._error(exc) from exc
        return Completion(text=text, finish_reason=finish, usage=usage, model=answered_model)

    async def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        body = _body(model, system, messages, params)
        body["stream"] = True
        # Always asked for: token metrics need it even when the caller does not.
        body["stream_options"] = {"include_usage": True}
        try:
            upstream = await self._client.post(
                PATH,
                body=body,
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
        except Exception as exc:
            raise self._error(exc) from exc
        try:
            finish: FinishReason | None = None
            usage = Usage()
            answered_model = model
            try:
                chunk: Any
                async for chunk in upstream:
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
            except Exception as exc:
                raise self._error(exc) from exc
            if finish is None:
                content_type = upstream.response.headers.get("content-type")
                raise unfinished_stream_error(self.name, content_type, "the completion finished")
            yield StreamEnd(finish, usage, answered_model)
        finally:
            await upstream.close()

    def _error(self, exc: Exception) -> ProviderError:
        return classify(exc, self.name, self._key)


def _body(
    model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
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


def _usage(data: Any) -> Usage:
    if not data:
        return Usage()
    prompt, completion = data.get("prompt_tokens") or 0, data.get("completion_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise TypeError("usage counts are not integers")
    return Usage(prompt, completion)


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
    if isinstance(
        exc,
        json.JSONDecodeError
        | openai.APIResponseValidationError
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
