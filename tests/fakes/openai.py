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
        return {
            "id": f"chatcmpl-fake{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": behavior.text, "refusal": None},
                    "finish_reason": behavior.finish or "stop",
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
        events.append(sse(chunk({}, behavior.finish or "stop")))
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
