"""Run request bodies, validated with ``app.runs_api.models``, into core run requests. Every
problem is a 400 ``invalid_request_error`` naming the field; unknown fields are refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.http.chat_messages import chat_messages
from app.http.wire import validate_body
from app.providers import ChatMessage

from .models import RunRequest


@dataclass(frozen=True, slots=True)
class RunCall:
    messages: list[ChatMessage]
    stream: bool
    metadata: dict[str, Any]


def parse_run(body: Any) -> RunCall:
    request = validate_body(RunRequest, body)
    value = request.input
    messages = [ChatMessage("user", value)] if isinstance(value, str) else chat_messages(value)
    return RunCall(messages, bool(request.stream), request.metadata or {})
