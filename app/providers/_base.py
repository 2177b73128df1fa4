"""The interface every provider adapter implements, and the base both SDK adapters share."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from types import ModuleType
from typing import Any, ClassVar, Protocol

import httpx2

from ._body import body_chunks
from ._errors import (
    ErrorKind,
    ProviderError,
    is_timeout,
    status_error,
    unfinished_stream_error,
)
from ._models import (
    ChatMessage,
    ChatParams,
    Completion,
    StreamEnd,
    StreamItem,
    ToolCallAssembler,
    ToolCallDelta,
)
from ._sse import ServerSentEvent, server_sent_events


class ChatProvider(Protocol):
    """One long-lived SDK client. Every failure surfaces as :class:`ProviderError`."""

    name: str

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion: ...

    def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        """Text and tool-call deltas and usage reports, then one :class:`StreamEnd` (with the
        assembled tool calls). Closing the iterator closes the upstream."""
        ...

    async def aclose(self) -> None: ...

    def rotate_key(self, api_key: str) -> None:
        """Use ``api_key`` from the next request on (a rotated secret file)."""
        ...


class SDKAdapter:
    """An official SDK client (OpenAI's or Anthropic's: both are generated alike, with the same
    client options, error classes and stream class) behind :class:`ChatProvider`.

    Calls go through the SDK's generic ``post`` (:meth:`._templates.TemplatedRequests.post_json`,
    the request built from a template) with a body the adapter builds and ``cast_to=object``
    (plain dicts back): the SDK still does auth, retries with ``Retry-After``, timeouts, error
    classes and the transport, without its per-call request transform and response model
    construction. A stream's body is decoded here (:mod:`._sse`), not by the
    SDK's stream class: its cost per event was the largest per chunk (bench/FINDINGS.md).
    Subclasses translate bodies and answers; failures are classified here, once.
    """

    name: str
    # The SDK module, passed by the subclass so that each SDK is imported only when used.
    sdk: ClassVar[ModuleType]
    # The SDK's async client class (a subclass building requests from templates, ._templates).
    client_class: ClassVar[type]
    client_options: ClassVar[dict[str, Any]] = {}
    default_api_base: ClassVar[str]
    path: ClassVar[str]
    # What a streaming body adds, and the event that ends the stream (named in the error when
    # a stream stops before it).
    stream_fields: ClassVar[dict[str, Any]] = {"stream": True}
    stream_end: ClassVar[str]

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
        self._client: Any = self.client_class(
            api_key=api_key,
            base_url=api_base or self.default_api_base,
            max_retries=max_retries,
            timeout=timeout,
            http_client=http_client,
            **self.client_options,
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
        raise NotImplementedError

    def _completion(self, data: Any, model: str) -> Completion:
        """The answer of a non-streaming call; any lookup or type error is a malformed answer."""
        raise NotImplementedError

    def _read_stream(
        self, events: AsyncIterator[ServerSentEvent], model: str
    ) -> AsyncGenerator[StreamItem, None]:
        """Text and tool-call deltas and usage reports from the body's ``events``, then a
        :class:`StreamEnd` (without tool calls: the base assembles them) only if the stream
        reached its end event. An error event raises its :class:`ProviderError`, as the SDK's
        own stream class would have raised it."""
        raise NotImplementedError

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion:
        body = self._body(model, system, messages, params)
        try:
            data = await self._client.post_json(self.path, body)
            return self._completion(data, model)
        except Exception as exc:
            raise self._error(exc) from exc

    async def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        body = {**self._body(model, system, messages, params), **self.stream_fields}
        try:
            upstream: httpx2.Response = await self._client.post_json(self.path, body, stream=True)
        except Exception as exc:
            raise self._error(exc) from exc
        try:
            end: StreamEnd | None = None
            calls = ToolCallAssembler()
            try:
                events = server_sent_events(body_chunks(upstream))
                async with contextlib.aclosing(self._read_stream(events, model)) as items:
                    async for item in items:
                        if isinstance(item, StreamEnd):
                            end = item
                        else:
                            if isinstance(item, ToolCallDelta):
                                calls.add(item)
                            yield item
            except Exception as exc:
                raise self._error(exc) from exc
            if end is None:
                content_type = upstream.headers.get("content-type")
                raise unfinished_stream_error(self.name, content_type, self.stream_end)
            yield StreamEnd(end.finish_reason, end.usage, end.model, calls.calls())
        finally:
            await upstream.aclose()

    def _error(self, exc: Exception) -> ProviderError:
        """Map an SDK (or transport) exception to a :class:`ProviderError`; re-raise a bug."""
        sdk, provider, secret = self.sdk, self.name, self._key
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException) and is_timeout(exc):
            return ProviderError(
                ErrorKind.TIMEOUT, f"{provider} request timed out", provider=provider
            )
        if isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
            return ProviderError(
                ErrorKind.CONNECTION, f"connection to {provider} failed", provider=provider
            )
        if isinstance(exc, sdk.APIStatusError):
            return status_error(provider, exc.status_code, exc.body, exc.response.headers, secret)
        if isinstance(
            exc,
            json.JSONDecodeError
            | sdk.APIResponseValidationError
            | ValueError
            | KeyError
            | IndexError
            | TypeError
            | AttributeError,
        ):
            return ProviderError(
                ErrorKind.BAD_RESPONSE,
                f"{provider} returned a malformed response",
                provider=provider,
            )
        raise exc
