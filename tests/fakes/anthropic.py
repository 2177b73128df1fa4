"""Fake Anthropic Messages upstream (``POST /v1/messages``)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from ._base import Behavior, FakeUpstream, StreamEvent, sse, text_events
from ._rules import check_anthropic

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ids = itertools.count(1)


@dataclass
class FakeAnthropic(FakeUpstream):
    path: str = "/v1/messages"

    def check(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
        return check_anthropic(raw, headers)

    def complete_body(self, body: dict[str, Any], behavior: Behavior) -> dict[str, Any]:
        return {
            "id": f"msg_fake{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": [
                *([{"type": "text", "text": behavior.text}] if _has_text(behavior) else []),
                *(
                    {
                        "type": "tool_use",
                        "id": call.id or f"toolu_fake{next(_ids)}",
                        "name": call.name,
                        "input": json.loads(call.arguments),
                    }
                    for call in behavior.tool_calls
                ),
            ],
            "stop_reason": behavior.finish or _stop_reason(behavior),
            "stop_sequence": None,
            "usage": {
                "input_tokens": behavior.prompt_tokens,
                "output_tokens": behavior.output_tokens,
            },
        }

    def stream_events(self, body: dict[str, Any], behavior: Behavior) -> list[StreamEvent]:
        message = {
            "id": f"msg_fake{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": behavior.prompt_tokens, "output_tokens": 1},
        }
        events: list[StreamEvent] = [
            sse({"type": "message_start", "message": message}, "message_start"),
        ]
        block = 0
        if _has_text(behavior):
            events += [
                sse(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                    "content_block_start",
                ),
                sse({"type": "ping"}, "ping"),
            ]
            events += text_events(
                behavior,
                lambda text: sse(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text},
                    },
                    "content_block_delta",
                ),
                b"event: content_block_delta\ndata: {this is not json\n\n",
            )
            events.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
            block = 1
        for index, call in enumerate(behavior.tool_calls, start=block):
            start = {
                "type": "tool_use",
                "id": call.id or f"toolu_fake{next(_ids)}",
                "name": call.name,
                "input": {},
            }
            events.append(
                sse(
                    {"type": "content_block_start", "index": index, "content_block": start},
                    "content_block_start",
                )
            )
            events += [
                sse(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                    "content_block_delta",
                )
                # An empty input streams no delta, as the real API does.
                for part in (call.fragments() if call.arguments != "{}" else ())
            ]
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        events += [
            sse(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": behavior.finish or _stop_reason(behavior),
                        "stop_sequence": None,
                    },
                    "usage": {"output_tokens": behavior.output_tokens},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]
        return events

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        error_type = _ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": error_type, "message": message}}


def _has_text(behavior: Behavior) -> bool:
    # A message that only calls tools has no text block; any other has one, possibly empty.
    return bool(behavior.chunks) or not behavior.tool_calls


def _stop_reason(behavior: Behavior) -> str:
    return "tool_use" if behavior.tool_calls else "end_turn"
