"""OpenAI Chat Completions (and OpenAI-compatible servers) over the official SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from types import ModuleType
from typing import Any, ClassVar

import httpx2
import openai
from openai._base_client import log as sdk_log
from openai._models import FinalRequestOptions
from openai._utils import strip_not_given
from openai._utils._json import openapi_dumps

from ._base import SDKAdapter
from ._errors import ErrorKind, ProviderError, redact
from ._models import (
    ChatMessage,
    ChatParams,
    Completion,
    FinishReason,
    JSONSchemaFormat,
    NamedToolChoice,
    ResponseFormat,
    StreamEnd,
    StreamItem,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
from ._sse import ServerSentEvent, drain, event_json
from ._templates import SDKParts, TemplatedRequests, header_items

DEFAULT_API_BASE = "https://api.openai.com/v1"
PATH = "/chat/completions"

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class AsyncOpenAI(TemplatedRequests, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` building the adapter's requests from templates (:mod:`._templates`).
    Named as the SDK's class: the SDK sends its client's class name in the User-Agent."""

    sdk_parts = SDKParts(
        FinalRequestOptions, openai.NotGiven, openapi_dumps, strip_not_given, sdk_log
    )

    # The SDK's auth hooks (openai.lib._client_auth) change nothing for a client with a plain API
    # key, but each imports its implementation and resolves ``super()`` on every request (3% of
    # a streamed run's CPU): with no provider runtime, key provider or workload identity, these
    # do what they would do. tests/app/providers/test_sdk_internals.py pins their source.
    def _plain_auth(self) -> bool:
        return (
            self._provider_runtime is None
            and self._api_key_provider is None
            and self.workload_identity is None
            and self._workload_identity_auth is None
        )

    async def _prepare_options(self, options: FinalRequestOptions) -> FinalRequestOptions:
        if self._plain_auth():
            return options
        return await super()._prepare_options(options)

    async def _prepare_request(self, request: httpx2.Request) -> None:
        if self._provider_runtime is not None:
            await super()._prepare_request(request)

    @property
    def custom_auth(self) -> httpx2.Auth | None:
        return None if self._plain_auth() else super().custom_auth

    async def _send_request(
        self, request: httpx2.Request, *, stream: bool, **kwargs: Any
    ) -> httpx2.Response:
        if self._plain_auth():
            return await self._client.send(request, stream=stream, **kwargs)
        return await super()._send_request(request, stream=stream, **kwargs)

    def template_inputs(self, options: Any) -> tuple[object, ...] | None:
        security = options.security
        if self.default_query or self._auth_query(security):
            return None
        return (
            security,
            header_items(self._auth_headers(security)),
            header_items(self.default_headers),
            self._provider_runtime,
            self.base_url,
            self.timeout,
        )


class OpenAIProvider(SDKAdapter):
    name = "openai"
    sdk: ClassVar[ModuleType] = openai
    client_class = AsyncOpenAI
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
        wire.extend(wire_message(message) for message in messages)
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
        if params.tools:
            body["tools"] = [wire_tool(tool) for tool in params.tools]
            if params.tool_choice is not None:
                body["tool_choice"] = wire_tool_choice(params.tool_choice)
            if params.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = params.parallel_tool_calls
        if params.response_format is not None:
            body["response_format"] = wire_response_format(params.response_format)
        return body

    def _completion(self, data: Any, model: str) -> Completion:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        calls = tuple(
            ToolCall(call["id"], call["function"]["name"], call["function"]["arguments"])
            for call in message.get("tool_calls") or ()
            if call.get("type", "function") == "function"
        )
        if not all(
            isinstance(part, str) for call in calls for part in (call.id, call.name, call.arguments)
        ):
            raise TypeError("unexpected types in the tool calls")
        finish = _FINISH.get(choice.get("finish_reason") or "stop", "stop")
        usage = _usage(data.get("usage"))
        answered_model = data.get("model") or model
        if not isinstance(text, str) or not isinstance(answered_model, str):
            raise TypeError("unexpected types in the completion")
        return Completion(
            text=text, finish_reason=finish, usage=usage, model=answered_model, tool_calls=calls
        )

    async def _read_stream(
        self, events: AsyncIterator[ServerSentEvent], model: str
    ) -> AsyncGenerator[StreamItem, None]:
        finish: FinishReason | None = None
        usage = Usage()
        answered_model = model
        async for _, data in events:
            if data.startswith("[DONE]"):
                await drain(events)
                break
            chunk = event_json(data)
            if not isinstance(chunk, dict):
                raise TypeError("a stream event is not a JSON object")
            if chunk.get("error"):
                raise self._error_event(chunk["error"])
            choices = chunk.get("choices")
            if choices:
                choice = choices[0]
                text = choice["delta"].get("content")
                if text:
                    if not isinstance(text, str):
                        raise TypeError("delta content is not a string")
                    yield text
                for call in choice["delta"].get("tool_calls") or ():
                    yield _tool_call_delta(call)
                reason = choice.get("finish_reason")
                if reason is not None:
                    finish = _FINISH.get(reason, "stop")
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
                yield usage
            answered_model = chunk.get("model") or answered_model
        if finish is not None:
            yield StreamEnd(finish, usage, answered_model)

    def _error_event(self, error: Any) -> ProviderError:
        """An error object inside a 200 stream: the SDK's stream class raises it as a plain
        ``APIError`` with its message, or a generic one."""
        message = error.get("message") if isinstance(error, dict) else None
        if not message or not isinstance(message, str):
            message = "An error occurred during streaming"
        return ProviderError(ErrorKind.OVERLOADED, redact(message, self._key), provider=self.name)


def _tool_call_delta(call: Any) -> ToolCallDelta:
    function = call.get("function") or {}
    delta = ToolCallDelta(
        index=call["index"],
        id=call.get("id"),
        name=function.get("name"),
        arguments=function.get("arguments") or "",
    )
    if not isinstance(delta.index, int) or not all(
        value is None or isinstance(value, str) for value in (delta.id, delta.name, delta.arguments)
    ):
        raise TypeError("unexpected types in a tool call delta")
    return delta


def wire_message(message: ChatMessage) -> dict[str, Any]:
    """A message as Chat Completions defines it."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            # Null, not "", when the assistant only called tools (as OpenAI answers it).
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def wire_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def wire_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, NamedToolChoice):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def wire_response_format(response_format: ResponseFormat) -> dict[str, Any]:
    if not isinstance(response_format, JSONSchemaFormat):
        return {"type": response_format}
    json_schema: dict[str, Any] = {"name": response_format.name}
    if response_format.description is not None:
        json_schema["description"] = response_format.description
    if response_format.schema is not None:
        json_schema["schema"] = dict(response_format.schema)
    if response_format.strict is not None:
        json_schema["strict"] = response_format.strict
    return {"type": "json_schema", "json_schema": json_schema}


def _usage(data: Any) -> Usage:
    if not data:
        return Usage()
    prompt, completion = data.get("prompt_tokens") or 0, data.get("completion_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise TypeError("usage counts are not integers")
    return Usage(prompt, completion)
