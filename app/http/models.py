"""Response shapes every HTTP route shares: the error body, the health probes' answers, and
OpenAI's list envelope."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str
    param: str | None = Field(default=None, description="The invalid field.")


class Error(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_seconds: float = Field(ge=0)


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]


class NotReady(BaseModel):
    status: Literal["not_ready"]
    reason: Literal["starting", "draining", "stopping"]


Item = TypeVar("Item", bound=BaseModel)


# OpenAI's list object, ``{"object": "list", "data": [...]}``: a front door's list model is
# ``class ItemList(ListObject[Item])``.
class ListObject(BaseModel, Generic[Item]):
    object: Literal["list"]
    data: list[Item]


# The models whose JSON schemas the OpenAPI document (app.openapi) describes these with.
OPENAPI_MODELS: tuple[type[BaseModel], ...] = (Error, Health, Live, Ready, NotReady)
