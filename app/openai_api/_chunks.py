"""``chat.completion.chunk`` server-sent events: the constant part of every chunk is encoded once
per stream."""

from __future__ import annotations

from typing import Any

from app.http.sse import dumps
from app.providers import ToolCallDelta

DONE = b"data: [DONE]\n\n"


class ChunkRenderer:
    """``chat.completion.chunk`` events of one completion."""

    __slots__ = ("_base", "_prefix", "_suffix")

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        head = dumps(self._base)[:-1]
        self._prefix = f'data: {head},"choices":[{{"index":0,"delta":{{"content":'.encode()
        self._suffix = b'},"logprobs":null,"finish_reason":null}]}\n\n'

    def text(self, text: str) -> bytes:
        return self._prefix + dumps(text).encode() + self._suffix

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        """A tool-call delta in OpenAI's shape: the first of a call names it (``id``, ``type``,
        ``function.name``), later ones carry argument fragments."""
        call: dict[str, Any] = {"index": delta.index}
        function: dict[str, str] = {}
        if delta.id is not None:
            call["id"] = delta.id
            call["type"] = "function"
        if delta.name is not None:
            function["name"] = delta.name
        if delta.arguments or delta.name is not None:
            function["arguments"] = delta.arguments
        call["function"] = function
        return self._chunk(
            [
                {
                    "index": 0,
                    "delta": {"tool_calls": [call]},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )

    def start(self) -> bytes:
        return self._chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )

    def finish(self, finish_reason: str) -> bytes:
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason}])

    def usage(self, usage: dict[str, int]) -> bytes:
        return self._chunk([], usage=usage)

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return f"data: {dumps({**self._base, 'choices': choices, **extra})}\n\n".encode()


def error_data(body: dict[str, Any]) -> bytes:
    return f"data: {dumps(body)}\n\n".encode()
