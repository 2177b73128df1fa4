"""The bodies the handlers build as dicts are exactly the shapes of their models: each one
validates against its model, and dumping the validated model gives the same JSON back (no key
the model lacks, none it requires missing)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from app.core import (
    AgentRegistry,
    RunLimit,
    RunResult,
    Step,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
)
from app.http.models import ErrorDetail
from app.providers import Usage
from app.runs_api import bodies
from app.runs_api.models import (
    AgentList,
    Run,
    RunStep,
    RunToolCallEvent,
    RunToolResultEvent,
)
from tests.app.shapes import AGENT, CONFIG, PROVIDER, assert_shape

OK = ToolCallRecord("call_1", "add", "calc", '{"a": 1, "b": 2}', "ok", 0.012, None, 1)
MADE_UP = ToolCallRecord("call_2", "nope", None, "{}", "rejected", 0.0, "There is no tool ...")
STEPS = (
    Step(1, "tool_calls", Usage(10, 5), "gpt-4o-2024", 0.4, [OK, MADE_UP]),
    Step(2, "stop", Usage(20, 7), "gpt-4o-2024", 0.2),
)
LIMIT = RunLimit("max_steps_exceeded", "Agent 'coding' reached its max_steps (2) ...")


@pytest.mark.parametrize(
    "result",
    [
        RunResult(AGENT, "Hi", "stop", Usage(3, 4), "gpt-4o-2024", 0.1),
        RunResult(AGENT, "3", "stop", Usage(30, 12), "gpt-4o-2024", 0.6, steps=STEPS),
        RunResult(AGENT, "", "tool_calls", Usage(30, 12), "m", 0.6, steps=STEPS, limit=LIMIT),
    ],
    ids=["single call", "tools agent", "cut by max_steps"],
)
def test_run_is_a_run(result: RunResult) -> None:
    assert_shape(Run, bodies.run("run_1", result, result.text, {"ticket": 7}))


def test_agent_list_is_an_agent_list() -> None:
    registry = AgentRegistry(CONFIG.agents, {"openai": PROVIDER})
    body = bodies.agent_list(registry)
    assert [agent["available"] for agent in body["data"]] == [True, False]
    assert_shape(AgentList, body)


def test_tool_events_are_their_models() -> None:
    started = ToolCallStarted(1, "call_1", "add", "calc", '{"a": 1}')
    assert_shape(RunToolCallEvent, bodies.tool_call("run_1", started))
    for record in (OK, MADE_UP):
        finished = ToolCallFinished(1, record, "3")
        assert_shape(RunToolResultEvent, bodies.tool_result("run_1", finished))


def test_a_failed_runs_steps_and_error_are_their_models() -> None:
    error = {"message": "Agent 'coding' ...", "type": "upstream_error", "code": "upstream_timeout"}
    failed = bodies.run_failed("run_1", AGENT, error, {}, STEPS)
    assert_shape(ErrorDetail, failed["error"])
    steps = TypeAdapter(list[RunStep])
    validated = steps.validate_python(failed["steps"])
    assert steps.dump_python(validated, mode="json", exclude_unset=True) == failed["steps"]
