"""The bodies the handlers build as dicts are exactly the shapes of their models: each one
validates against its model, and dumping the validated model gives the same JSON back (no key
the model lacks, none it requires missing)."""

from __future__ import annotations

from typing import Any

import pytest

from app.core import AgentRegistry, RunLimit, RunResult
from app.openai_api import bodies
from app.openai_api.models import ChatCompletion, ModelList
from app.providers import ToolCall, Usage
from tests.app.shapes import AGENT, CONFIG, PROVIDER, assert_shape

CALLS = (ToolCall("call_1", "get_weather", '{"city": "Paris"}'), ToolCall("call_2", "now", ""))


def result(text: str = "", **fields: Any) -> RunResult:
    return RunResult(AGENT, text, "stop", Usage(12, 34), "gpt-4o-2024", 0.5, **fields)


@pytest.mark.parametrize(
    "run",
    [
        result("Hello"),
        result("", tool_calls=CALLS),
        result("Let me check.", tool_calls=CALLS[:1]),
        result("so far", limit=RunLimit("max_steps_exceeded", "Agent 'coding' reached ...")),
    ],
    ids=["text", "tool calls only", "text and a tool call", "cut by max_steps"],
)
def test_chat_completion_is_a_chat_completion(run: RunResult) -> None:
    assert_shape(ChatCompletion, bodies.chat_completion(run))


def test_model_list_is_a_model_list() -> None:
    registry = AgentRegistry(CONFIG.agents, {"openai": PROVIDER})
    body = bodies.model_list(registry)
    assert len(body["data"]) == 2
    assert_shape(ModelList, body)


def test_a_key_the_model_lacks_fails() -> None:
    body = bodies.chat_completion(result("Hello"))
    body["choices"][0]["message"]["audio"] = None
    with pytest.raises(AssertionError):
        assert_shape(ChatCompletion, body)
