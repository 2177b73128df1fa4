"""A2A's JSON-RPC 2.0 binding, natively (docs/a2a.md says why not a2a-sdk): the messages, the
error codes, and a task in both wire versions: 1.0 (proto3 JSON names, ``TASK_STATE_*`` and
``ROLE_*`` enums, parts without ``kind``) and 0.3 (``kind`` discriminators, lowercase states).

A task is held in one neutral form, :class:`Task`; each version renders it.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

from app.http.jsonrpc import INTERNAL_ERROR as INTERNAL_ERROR
from app.http.jsonrpc import INVALID_PARAMS as INVALID_PARAMS
from app.http.jsonrpc import INVALID_REQUEST as INVALID_REQUEST
from app.http.jsonrpc import METHOD_NOT_FOUND as METHOD_NOT_FOUND
from app.http.jsonrpc import PARSE_ERROR as PARSE_ERROR
from app.http.jsonrpc import SERVER_ERROR as SERVER_ERROR
from app.http.jsonrpc import JsonRpcFault
from app.http.jsonrpc import error_message as error_message
from app.http.jsonrpc import result_message as result_message

# A2A's own codes (specification section 9/10).
TASK_NOT_FOUND: Final = -32001
TASK_NOT_CANCELABLE: Final = -32002
UNSUPPORTED_OPERATION: Final = -32004
CONTENT_TYPE_NOT_SUPPORTED: Final = -32005
VERSION_NOT_SUPPORTED: Final = -32009

VERSION_HEADER: Final = "A2A-Version"
V1: Final = "1.0"
V03: Final = "0.3"
SUPPORTED_VERSIONS: Final = (V1, V03)


@dataclass(frozen=True, slots=True)
class Method:
    """One operation's JSON-RPC method name in 1.0 and in 0.3 (None: the operation is 1.0's)."""

    v1: str
    v03: str | None = None

    def name(self, version: str) -> str:
        return self.v03 if version == V03 and self.v03 is not None else self.v1

    def names(self) -> dict[str, str]:
        """Version -> the name, for each version that has the operation."""
        return {V1: self.v1} | ({} if self.v03 is None else {V03: self.v03})


SEND_MESSAGE: Final = Method("SendMessage", "message/send")
SEND_STREAMING_MESSAGE: Final = Method("SendStreamingMessage", "message/stream")
GET_TASK: Final = Method("GetTask", "tasks/get")
LIST_TASKS: Final = Method("ListTasks")
CANCEL_TASK: Final = Method("CancelTask", "tasks/cancel")
SUBSCRIBE_TO_TASK: Final = Method("SubscribeToTask", "tasks/resubscribe")
GET_EXTENDED_CARD: Final = Method("GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard")
METHODS: Final = (
    SEND_MESSAGE,
    SEND_STREAMING_MESSAGE,
    GET_TASK,
    LIST_TASKS,
    CANCEL_TASK,
    SUBSCRIBE_TO_TASK,
    GET_EXTENDED_CARD,
)

State = Literal["submitted", "working", "completed", "failed", "canceled", "rejected"]
TERMINAL: Final = frozenset({"completed", "failed", "canceled", "rejected"})
Role = Literal["user", "agent"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> str:
    return _dumps(value)


def new_id() -> str:
    return secrets.token_hex(16)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class A2aError(JsonRpcFault):
    """A JSON-RPC error of A2A answered with HTTP ``status`` (200 unless the error precedes the
    message: a body that is not JSON-RPC, an unknown agent)."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a task's history: text only (the cards declare text modes)."""

    role: Role
    text: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    context_id: str
    agent: str
    state: State
    timestamp: str
    history: tuple[Turn, ...]
    # The answer (one text artifact) once the agent has given it.
    answer: str | None = None
    artifact_id: str = field(default_factory=new_id)
    # Why the task failed or was refused, or the tool step under way.
    status_text: str | None = None
    created: float = field(default_factory=time.time)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def moved(self, state: State, status_text: str | None = None) -> Task:
        return replace(self, state=state, status_text=status_text, timestamp=now_iso())

    def encode(self) -> str:
        return dumps(
            {
                "id": self.id,
                "contextId": self.context_id,
                "agent": self.agent,
                "state": self.state,
                "timestamp": self.timestamp,
                "history": [[t.role, t.text, t.message_id] for t in self.history],
                "answer": self.answer,
                "artifactId": self.artifact_id,
                "statusText": self.status_text,
                "created": self.created,
            }
        )

    @classmethod
    def decode(cls, text: str | bytes) -> Task:
        data = json.loads(text)
        return cls(
            data["id"],
            data["contextId"],
            data["agent"],
            data["state"],
            data["timestamp"],
            tuple(Turn(role, body, mid) for role, body, mid in data["history"]),
            data["answer"],
            data["artifactId"],
            data["statusText"],
            data["created"],
        )


class Renderer:
    """A task, its events and messages in one wire version."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._v1 = version == V1

    def part(self, text: str) -> dict[str, Any]:
        return {"text": text} if self._v1 else {"kind": "text", "text": text}

    def state(self, state: State) -> str:
        return f"TASK_STATE_{state.upper()}" if self._v1 else state

    def message(self, task: Task, turn: Turn) -> dict[str, Any]:
        role = f"ROLE_{turn.role.upper()}" if self._v1 else turn.role
        message = {
            "messageId": turn.message_id,
            "contextId": task.context_id,
            "taskId": task.id,
            "role": role,
            "parts": [self.part(turn.text)],
        }
        return message if self._v1 else {"kind": "message", **message}

    def status(self, task: Task) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state(task.state), "timestamp": task.timestamp}
        if task.status_text is not None:
            note = Turn("agent", task.status_text, f"{task.id}-{task.state}")
            status["message"] = self.message(task, note)
        return status

    def artifact(self, task: Task) -> dict[str, Any]:
        return {
            "artifactId": task.artifact_id,
            "name": "answer",
            "parts": [self.part(task.answer or "")],
        }

    def task(self, task: Task, history_length: int | None = None) -> dict[str, Any]:
        history = task.history if history_length is None else task.history[-history_length:]
        body: dict[str, Any] = {
            "id": task.id,
            "contextId": task.context_id,
            "status": self.status(task),
            "history": [self.message(task, turn) for turn in history]
            if history_length != 0
            else [],
        }
        if task.answer is not None:
            body["artifacts"] = [self.artifact(task)]
        return body if self._v1 else {"kind": "task", **body}

    def task_result(self, task: Task, history_length: int | None = None) -> dict[str, Any]:
        """SendMessage's and a stream's first event: 1.0 wraps it in a oneof, 0.3 does not."""
        body = self.task(task, history_length)
        return {"task": body} if self._v1 else body

    def status_update(self, task: Task) -> dict[str, Any]:
        event: dict[str, Any] = {
            "taskId": task.id,
            "contextId": task.context_id,
            "status": self.status(task),
        }
        if self._v1:
            return {"statusUpdate": event}
        return {"kind": "status-update", **event, "final": task.terminal}

    def artifact_update(self, task: Task) -> dict[str, Any]:
        event = {
            "taskId": task.id,
            "contextId": task.context_id,
            "artifact": self.artifact(task),
            "append": False,
            "lastChunk": True,
        }
        return {"artifactUpdate": event} if self._v1 else {"kind": "artifact-update", **event}
