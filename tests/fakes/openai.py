"""Fake OpenAI Chat Completions upstream (``POST /v1/chat/completions``)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from ._base import Behavior, FakeUpstream, StreamEvent, sse, text_events
from ._rules import check_openai

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_ids = itertools.count(1)


@dataclass
class FakeOpenAI(FakeUpstream):
    path: str = "/v1/chat/completions"

    def check(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
        return check_openai(raw)

    def complete_body(self, body: dict[str, Any], behavior: Behavior) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": behavior.text, "refusal": None}
        if behavior.tool_calls:
            message["content"] = behavior.text or None
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_fake{next(_ids)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in behavior.tool_calls
            ]
        return {
            "id": f"chatcmpl-fake{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": behavior.finish or _finish(behavior),
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": behavior.prompt_tokens,
                "completion_tokens": behavior.output_tokens,
                "total_tokens": behavior.prompt_tokens + behavior.output_tokens,
            },
        }

    def stream_events(self, body: dict[str, Any], behavior: Behavior) -> list[StreamEvent]:
        completion_id = f"chatcmpl-fake{next(_ids)}"
        created = int(time.time())
        model = body.get("model", "fake")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events: list[StreamEvent] = [sse(chunk({"role": "assistant", "content": ""}))]
        events += text_events(
            behavior, lambda text: sse(chunk({"content": text})), b"data: {this is not json\n\n"
        )
        for index, call in enumerate(behavior.tool_calls):
            start = {
                "index": index,
                "id": call.id or f"call_fake{next(_ids)}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            events.append(sse(chunk({"tool_calls": [start]})))
            events += [
                sse(chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
                for part in call.fragments()
            ]
        events.append(sse(chunk({}, behavior.finish or _finish(behavior))))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": behavior.prompt_tokens,
                "completion_tokens": behavior.output_tokens,
                "total_tokens": behavior.prompt_tokens + behavior.output_tokens,
            }
            events.append(
                sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )
        events.append(b"data: [DONE]\n\n")
        return events

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        error_type = _ERROR_TYPES.get(status, "server_error")
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


def _finish(behavior: Behavior) -> str:
    return "tool_calls" if behavior.tool_calls else "stop"
