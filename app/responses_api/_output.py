"""The ``response`` object: its output items, status and usage, and the request's settings it
echoes, in OpenAI's shape (``openai.types.responses.Response`` validates it in the tests)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from app.core import RunResult
from app.providers import ChatMessage, ToolCall, Usage

from .requests import ResponsesCall


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def message_item(text: str, status: str, item_id: str | None = None) -> dict[str, Any]:
    return {
        "id": item_id or new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [output_text_part(text)],
    }


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(
    call: ToolCall, status: str = "completed", item_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": item_id or new_id("fc"),
        "type": "function_call",
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


def output_items(text: str, calls: tuple[ToolCall, ...], status: str) -> list[dict[str, Any]]:
    """A completed run's output: its text (if any, or if there is nothing else), then its calls."""
    items = [message_item(text, status)] if text or not calls else []
    return items + [function_call_item(call) for call in calls]


def outcome(result: RunResult) -> tuple[str, dict[str, str] | None]:
    """The response's status and incomplete_details. A tools agent cut by its max_steps is
    incomplete like one cut by the token limit: its own tool calls are not the client's."""
    if result.limit is not None or result.finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if result.finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def output_messages(output: list[dict[str, Any]]) -> list[ChatMessage]:
    """A response's output as the assistant message a later turn continues from."""
    text = "".join(
        part["text"] for item in output if item["type"] == "message" for part in item["content"]
    )
    calls = tuple(
        ToolCall(item["call_id"], item["name"], item["arguments"])
        for item in output
        if item["type"] == "function_call"
    )
    return [ChatMessage("assistant", text, calls)]


@dataclass(slots=True)
class ResponseDraft:
    """A response being made: its id and the settings it echoes, fixed when the run starts."""

    call: ResponsesCall
    model: str
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    def body(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: Usage | None = None,
        *,
        incomplete: dict[str, str] | None = None,
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        request = self.call.request
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
            "max_tool_calls": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "previous_response_id": request.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "safety_identifier": request.safety_identifier,
            "service_tier": "default",
            "store": self.call.store,
            "temperature": request.temperature,
            "text": self._text(),
            "tool_choice": self._tool_choice(),
            "tools": [
                tool.model_dump(by_alias=True, exclude_none=True) for tool in request.tools or ()
            ],
            "top_p": request.top_p,
            "truncation": "disabled",
            "usage": usage_json(usage) if usage is not None else None,
            "user": request.user,
            "metadata": request.metadata or {},
        }

    def _text(self) -> dict[str, Any]:
        text = self.call.request.text
        fmt = text.format if text is not None else None
        return {
            "format": fmt.model_dump(by_alias=True, exclude_none=True)
            if fmt is not None
            else {"type": "text"},
            "verbosity": "medium",
        }

    def _tool_choice(self) -> Any:
        choice = self.call.request.tool_choice
        if choice is None:
            return "auto"
        return choice if isinstance(choice, str) else choice.model_dump()
