"""The JSON bodies of the OpenAI-compatible API, built as plain dicts: on this hot path a dict
costs less than building and dumping the model (about 2 us less per body). Each builder's output
is the shape of its model in ``models.py``; tests/app/openai_api/test_bodies.py fails when they
drift apart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from app.core import Agent, AgentRegistry, RunResult
from app.core.wire import usage_json
from app.providers import ToolCall


def model_list(registry: AgentRegistry, agents: Iterable[Agent] | None = None) -> dict[str, Any]:
    """A :class:`~.models.ModelList`: ``agents`` (unset: every agent) as models."""
    created = registry.created
    data = [
        {"id": agent.name, "object": "model", "created": created, "owned_by": agent.provider_name}
        for agent in (registry if agents is None else agents)
    ]
    return {"object": "list", "data": data}


def chat_completion(result: RunResult) -> dict[str, Any]:
    """A :class:`~.models.ChatCompletion` of ``result``."""
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.agent.name,
        "choices": [
            {
                "index": 0,
                "message": _assistant_message(result.text, result.tool_calls),
                "logprobs": None,
                "finish_reason": completion_finish(result),
            }
        ],
        "usage": usage_json(result.usage),
        "system_fingerprint": None,
    }


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion_finish(result: RunResult) -> str:
    """A tools agent's run cut by max_steps answers ``length`` on the OpenAI-compatible route:
    its own tool calls are not the client's to run, so ``tool_calls`` would be wrong."""
    return "length" if result.limit is not None else result.finish_reason


def _assistant_message(text: str, tool_calls: tuple[ToolCall, ...]) -> dict[str, Any]:
    if not tool_calls:
        return {"role": "assistant", "content": text, "refusal": None}
    return {
        "role": "assistant",
        # OpenAI's content is null when the model only called tools.
        "content": text or None,
        "refusal": None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in tool_calls
        ],
    }
