"""The JSON shape of a run's token usage, the same on every front door."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.providers import Usage as RunUsage


class Usage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


def usage_json(usage: RunUsage) -> dict[str, int]:
    """``usage`` in the shape of :class:`Usage`."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
