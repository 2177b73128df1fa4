"""The JSON bodies of the runs API, built as plain dicts: on this hot path a dict costs less than
building and dumping the model (about 2 us less per body). Each builder's output is the shape of
its model in ``models.py``; tests/app/runs_api/test_bodies.py fails when they drift apart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from app.core import (
    Agent,
    RunResult,
    Step,
    ToolCallFinished,
    ToolCallStarted,
)
from app.core.wire import usage_json

RUN_OBJECT = "agent.run"


def agent_list(agents: Iterable[Agent]) -> dict[str, Any]:
    """An :class:`~.models.AgentList`: each agent's public descriptor, no prompt, no key."""
    return {"object": "list", "data": [_agent_info(agent) for agent in agents]}


def _agent_info(agent: Agent) -> dict[str, Any]:
    settings = agent.settings
    return {
        "name": agent.name,
        "type": settings.type,
        "provider": settings.provider,
        "model": settings.model,
        "timeout": settings.timeout,
        "max_tokens": settings.max_tokens,
        "fallback": settings.fallback,
        "available": agent.provider is not None,
    }


def run(run_id: str, result: RunResult, output: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """A :class:`~.models.Run` of ``result``, whose answer is ``output``."""
    agent = result.agent
    body: dict[str, Any] = {
        "id": run_id,
        "object": RUN_OBJECT,
        "agent": agent.name,
        "status": "completed" if result.limit is None else "incomplete",
        "output": output,
        "finish_reason": result.finish_reason,
        "usage": usage_json(result.usage),
        "provider": agent.provider_name,
        "model": result.model,
        "duration_ms": _ms(result.duration),
        "metadata": metadata,
    }
    if result.steps:
        body["steps"] = steps(result.steps)
    if result.limit is not None:
        body["error"] = {
            "message": result.limit.message,
            "type": "run_limit",
            "code": result.limit.code,
        }
    return body


def run_started(run_id: str, agent: Agent, metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``run.started`` event's data."""
    return {
        "id": run_id,
        "object": RUN_OBJECT,
        "agent": agent.name,
        "status": "running",
        "metadata": metadata,
    }


def run_failed(
    run_id: str,
    agent: Agent,
    error: dict[str, Any],
    metadata: dict[str, Any],
    done: Sequence[Step] | None,
) -> dict[str, Any]:
    """The ``run.failed`` event's data; a tools agent's has the steps ``done``."""
    body: dict[str, Any] = {
        "id": run_id,
        "object": RUN_OBJECT,
        "agent": agent.name,
        "status": "failed",
        "error": error,
        "metadata": metadata,
    }
    if done is not None:
        body["steps"] = steps(done)
    return body


def steps(done: Sequence[Step]) -> list[dict[str, Any]]:
    """:class:`~.models.RunStep`\\s."""
    return [
        {
            "index": step.index,
            "finish_reason": step.finish_reason,
            "model": step.model,
            "usage": usage_json(step.usage),
            "duration_ms": _ms(step.duration),
            "tool_calls": [
                {
                    "id": call.id,
                    "name": call.name,
                    "tool_server": call.tool_server,
                    "arguments": call.arguments,
                    "outcome": call.outcome,
                    "duration_ms": _ms(call.duration),
                    "error": call.error,
                    "result_chars": call.result_chars,
                    "truncated": call.truncated,
                }
                for call in step.tool_calls
            ],
        }
        for step in done
    ]


def tool_call(run_id: str, started: ToolCallStarted) -> dict[str, Any]:
    """A :class:`~.models.RunToolCallEvent` (``run.tool_call``)."""
    return {
        "id": run_id,
        "step": started.step,
        "tool_call_id": started.id,
        "name": started.name,
        "tool_server": started.tool_server,
        "arguments": started.arguments,
    }


def tool_result(run_id: str, finished: ToolCallFinished) -> dict[str, Any]:
    """A :class:`~.models.RunToolResultEvent` (``run.tool_result``)."""
    record = finished.record
    return {
        "id": run_id,
        "step": finished.step,
        "tool_call_id": record.id,
        "name": record.name,
        "tool_server": record.tool_server,
        "outcome": record.outcome,
        "duration_ms": _ms(record.duration),
        "output": finished.output,
        "truncated": record.truncated,
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
