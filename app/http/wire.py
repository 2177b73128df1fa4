"""What the HTTP front doors share to read a JSON body: strict models, tagged unions, and the 400
that names the offending field (``messages[1].content``), as OpenAI does."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, ValidationError

from app.contract import errors
from app.errors import BadRequestError

# Union members are tagged "<...>": no field is named like that, so errors drop them from `param`.
TAG_PREFIX = "<"
# Client-chosen names quoted in error messages are cut here, so an error never echoes a huge body.
MAX_QUOTED_NAME = 64

STRING_TAG = "<string>"

M = TypeVar("M", bound=BaseModel)


def union_member(value: Any, string: str, array: str, *, items: type | None = None) -> str | None:
    """The tag of the union member (a string or an array) that `value` is meant for."""
    if isinstance(value, str):
        return string
    if isinstance(value, list) and (items is None or all(isinstance(i, items) for i in value)):
        return array
    return None


def string_or_array(
    array: str, error_type: str, message: str, *, items: type | None = None
) -> Discriminator:
    """The discriminator of a union of a string (tagged ``<string>``) and an array (``array``)."""
    return Discriminator(
        lambda value: union_member(value, STRING_TAG, array, items=items),
        custom_error_type=error_type,
        custom_error_message=message,
    )


def by_type(
    kinds: Collection[str], error_type: str, message: str, *, default: str | None = None
) -> Discriminator:
    """The discriminator of a union of objects tagged ``<kind>`` by their ``type`` (``default``
    when they have none)."""

    def member(value: Any) -> str | None:
        kind = value.get("type", default) if isinstance(value, dict) else None
        return f"<{kind}>" if kind in kinds else None

    return Discriminator(member, custom_error_type=error_type, custom_error_message=message)


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)


class InvalidFieldError(BadRequestError):
    """A 400 naming the offending field in ``param``, as OpenAI does."""

    error = errors.INVALID_FIELD

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}: {problem}")
        self.param = param

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["param"] = self.param
        return body


def field_param(loc: tuple[int | str, ...]) -> str:
    param = ""
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif not part.startswith(TAG_PREFIX):
            part = shortened(part)
            param += f".{part}" if param else part
    return param or "body"


def validate_body(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise InvalidFieldError("body", "must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        if error["type"] == "extra_forbidden":
            problem = f"unknown field (allowed: {', '.join(model.model_fields)})"
        elif error["type"] == "missing" and error["msg"] == "Field required":
            problem = "is required"
        else:
            problem = error["msg"]
        raise InvalidFieldError(field_param(error["loc"]), problem) from None


def shortened(name: str) -> str:
    """A client-chosen name as error messages quote it."""
    return name if len(name) <= MAX_QUOTED_NAME else name[:MAX_QUOTED_NAME] + "..."


def quoted(name: str) -> str:
    return repr(shortened(name))
