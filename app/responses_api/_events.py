"""The typed server-sent events of a streamed response, each with its ``sequence_number``:
``response.created`` and ``response.in_progress``; per output item ``output_item.added``, then
for a message ``content_part.added``, ``output_text.delta``... ``output_text.done``,
``content_part.done``, for a function call ``function_call_arguments.delta``... ``.done``, and
``output_item.done``; last ``response.completed``, ``response.incomplete`` or ``response.failed``.
"""

from __future__ import annotations

from typing import Any

from app.http.sse import event
from app.providers import ToolCall, ToolCallDelta

from ._output import ResponseDraft, function_call_item, message_item, new_id, output_text_part


class _OpenItem:
    """The output item being streamed: a message's text or a call's arguments so far."""

    __slots__ = ("call_id", "id", "index", "name", "parts")

    def __init__(self, index: int, call_id: str | None = None, name: str = "") -> None:
        self.id = new_id("fc" if call_id is not None else "msg")
        self.index = index
        self.call_id = call_id
        self.name = name
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ResponseEvents:
    """The events of one streamed response; :attr:`output` holds its finished items."""

    def __init__(self, draft: ResponseDraft) -> None:
        self.draft = draft
        self.output: list[dict[str, Any]] = []
        self._sequence = 0
        self._open: _OpenItem | None = None

    def start(self) -> bytes:
        snapshot = self.draft.body("in_progress", [])
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def text(self, delta: str) -> bytes:
        head = b""
        if self._open is None or self._open.call_id is not None:
            head = self._close() + self._open_message()
        assert self._open is not None
        self._open.parts.append(delta)
        return head + self._event(
            "response.output_text.delta",
            item_id=self._open.id,
            output_index=self._open.index,
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        head = b""
        if delta.id is not None or self._open is None or self._open.call_id is None:
            head = self._close() + self._open_call(delta)
        assert self._open is not None
        if not delta.arguments:
            return head
        self._open.parts.append(delta.arguments)
        return head + self._event(
            "response.function_call_arguments.delta",
            item_id=self._open.id,
            output_index=self._open.index,
            delta=delta.arguments,
        )

    def close(self, status: str = "completed") -> bytes:
        """Finish the item being streamed (:attr:`output` is then complete)."""
        return self._close(status)

    def end(self, body: dict[str, Any]) -> bytes:
        """The last event: the finished response, completed or incomplete."""
        kind = "response.completed" if body["status"] == "completed" else "response.incomplete"
        return self._event(kind, response=body)

    def fail(self, error: dict[str, Any]) -> bytes:
        tail = self._close("incomplete")
        body = self.draft.body("failed", self.output, error=error)
        return tail + self._event("response.failed", response=body)

    def _open_message(self) -> bytes:
        self._open = _OpenItem(len(self.output))
        item = {**message_item("", "in_progress", self._open.id), "content": []}
        return self._event(
            "response.output_item.added", output_index=self._open.index, item=item
        ) + self._event(
            "response.content_part.added",
            item_id=self._open.id,
            output_index=self._open.index,
            content_index=0,
            part=output_text_part(""),
        )

    def _open_call(self, delta: ToolCallDelta) -> bytes:
        self._open = _OpenItem(len(self.output), delta.id or new_id("call"), delta.name or "")
        call = ToolCall(self._open.call_id or "", self._open.name, "")
        item = function_call_item(call, "in_progress", self._open.id)
        return self._event("response.output_item.added", output_index=self._open.index, item=item)

    def _close(self, status: str = "completed") -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        if item.call_id is None:
            done = message_item(item.text, status, item.id)
            events = self._event(
                "response.output_text.done",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                text=item.text,
                logprobs=[],
            ) + self._event(
                "response.content_part.done",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                part=done["content"][0],
            )
        else:
            done = function_call_item(ToolCall(item.call_id, item.name, item.text), status, item.id)
            events = self._event(
                "response.function_call_arguments.done",
                item_id=item.id,
                output_index=item.index,
                name=item.name,
                arguments=item.text,
            )
        self.output.append(done)
        return events + self._event("response.output_item.done", output_index=item.index, item=done)

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event(kind, data)
