"""The params of A2A methods, in either wire version, checked by hand (the shapes are small and
a bad field must be named in a -32602 error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ._wire import INVALID_PARAMS, V1, A2aError

MAX_PAGE_SIZE: Final = 100


@dataclass(frozen=True, slots=True)
class SendParams:
    text: str
    message_id: str
    context_id: str | None
    task_id: str | None
    # 1.0 returnImmediately / 0.3 blocking: false -> answer with the submitted task at once.
    wait: bool
    history_length: int | None


def _bad(method: str, where: str, problem: str) -> A2aError:
    return A2aError(INVALID_PARAMS, f"Invalid params for {method}: {where}: {problem}.")


def _object(value: Any, method: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(method, where, "must be an object")
    return value


def _optional_str(data: dict[str, Any], name: str, method: str, where: str) -> str | None:
    value = data.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise _bad(method, f"{where}.{name}", "must be a non-empty string")
    return value


def _optional_int(data: dict[str, Any], name: str, method: str, where: str) -> int | None:
    value = data.get(name)
    if value is not None and (type(value) is not int or value < 0):
        raise _bad(method, f"{where}.{name}", "must be a non-negative integer")
    return value


def message_text(message: dict[str, Any], method: str, version: str) -> str:
    """The message's text parts joined; a user message with no text part is refused."""
    role = message.get("role")
    if role not in (("ROLE_USER", "user") if version == V1 else ("user",)):
        raise _bad(method, "message.role", "must be the user's role")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _bad(method, "message.parts", "must be a non-empty array")
    texts = []
    for index, part in enumerate(parts):
        part = _object(part, method, f"message.parts[{index}]")
        text = part.get("text")
        if not isinstance(text, str):
            raise A2aError(
                INVALID_PARAMS,
                f"Invalid params for {method}: message.parts[{index}]: only text parts are"
                " accepted (the agent card's input modes are text/plain).",
            )
        texts.append(text)
    text = "\n".join(texts)
    if not text.strip():
        raise _bad(method, "message.parts", "hold no text")
    return text


def send_params(params: Any, method: str, version: str) -> SendParams:
    params = _object(params, method, "params")
    message = _object(params.get("message"), method, "message")
    message_id = _optional_str(message, "messageId", method, "message")
    if message_id is None:
        raise _bad(method, "message.messageId", "is required")
    configuration = _object(params.get("configuration") or {}, method, "configuration")
    if version == V1:
        wait = not configuration.get("returnImmediately", False)
    else:
        wait = configuration.get("blocking", True) is not False
    return SendParams(
        message_text(message, method, version),
        message_id,
        _optional_str(message, "contextId", method, "message"),
        _optional_str(message, "taskId", method, "message"),
        wait,
        _optional_int(configuration, "historyLength", method, "configuration"),
    )


@dataclass(frozen=True, slots=True)
class TaskParams:
    id: str
    history_length: int | None


def task_params(params: Any, method: str) -> TaskParams:
    params = _object(params, method, "params")
    task_id = _optional_str(params, "id", method, "params")
    if task_id is None:
        raise _bad(method, "params.id", "is required")
    return TaskParams(task_id, _optional_int(params, "historyLength", method, "params"))


@dataclass(frozen=True, slots=True)
class ListParams:
    context_id: str | None
    state: str | None
    page_size: int
    offset: int
    history_length: int | None


def list_params(params: Any, method: str) -> ListParams:
    params = _object(params or {}, method, "params")
    page_size = _optional_int(params, "pageSize", method, "params") or 50
    token = _optional_str(params, "pageToken", method, "params")
    if token is not None and not token.isdigit():
        raise _bad(method, "params.pageToken", "is not a token this server gave")
    state = _optional_str(params, "status", method, "params")
    if state is not None:
        state = state.removeprefix("TASK_STATE_").lower()
    return ListParams(
        _optional_str(params, "contextId", method, "params"),
        state,
        min(page_size, MAX_PAGE_SIZE),
        int(token or 0),
        _optional_int(params, "historyLength", method, "params"),
    )
