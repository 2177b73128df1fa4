"""A2A's audit trail (docs/security.md): one event per message, logged when its task ends and
carrying the task's real outcome (completed, failed, rejected, canceled, or refused before it
started); none for reading, listing or cancelling tasks; never the prompt or answer text."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import structlog

from app.a2a_api import A2A_KEY
from app.a2a_api._wire import Turn
from app.core import ADMISSION_KEY, AUDIT_LOGGER, RUNNER_KEY, AuditRecord
from tests.app.conftest import AgentClientFactory, Client
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import agent_config

from .conftest import message, rpc, stream

PROMPT = "PROMPT-TEXT-a2a keep me out of the log"
SLOW = Behavior(chunk_delay=1.0, chunks=("slow",) * 10)
LATER = {"message": message(PROMPT), "configuration": {"returnImmediately": True}}


@contextlib.contextmanager
def audit_events() -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    with structlog.testing.capture_logs() as logs:
        yield events
    events += [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    for event in events:
        assert event["front_door"] == "a2a"
        assert "PROMPT-TEXT" not in json.dumps(event)
        assert "Hello, world!" not in json.dumps(event)


def _outcome(event: dict[str, Any]) -> tuple[str, str, str | None]:
    return event["agent"], event["outcome"], event["reason"]


async def test_a_completed_task_is_audited_once_with_its_tokens(
    client: Client, auth: dict[str, str]
) -> None:
    with audit_events() as events:
        sent = await rpc(client, "SendMessage", {"message": message(PROMPT)}, auth)
        task_id = sent["result"]["task"]["id"]
        await rpc(client, "GetTask", {"id": task_id}, auth)
        await rpc(client, "ListTasks", {}, auth)
        await stream(client, "SendStreamingMessage", {"message": message(PROMPT)}, auth)
    assert [_outcome(event) for event in events] == [("coding", "ok", None)] * 2
    for event in events:
        assert event["subject"] == "alice"
        assert event["request_id"]
        assert event["client"]
        assert event["prompt_tokens"] > 0
        assert event["completion_tokens"] > 0


async def test_a_task_answered_later_is_audited_when_it_ends(
    client: Client, fake: FakeServer, auth: dict[str, str]
) -> None:
    fake.openai.script(Behavior(chunk_delay=0.3, chunks=("a", "b")))
    with audit_events() as events:
        sent = await rpc(client, "SendMessage", LATER, auth)
        assert sent["result"]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
        assert events == []
        await asyncio.sleep(1.0)
    assert [_outcome(event) for event in events] == [("coding", "ok", None)]
    assert events[0]["duration_ms"] >= 500


async def test_a_canceled_task_is_audited_once_as_cancelled(
    client: Client, fake: FakeServer, auth: dict[str, str]
) -> None:
    fake.openai.script(SLOW)
    with audit_events() as events:
        task = (await rpc(client, "SendMessage", LATER, auth))["result"]["task"]
        await asyncio.sleep(0.2)
        await rpc(client, "CancelTask", {"id": task["id"]}, auth)
        await asyncio.sleep(0.1)
    assert [_outcome(event) for event in events] == [("coding", "error", "cancelled")]


async def test_a_task_cancelled_before_its_first_step_is_audited(client: Client) -> None:
    """A task cancelled before the loop first runs it never enters its body."""
    service = client.app[A2A_KEY].service
    assert service is not None
    agent = client.app[RUNNER_KEY].agent("coding")
    record = AuditRecord("a2a", "coding", "r-1", "alice", "agentsmcp", "test")
    with audit_events() as events:
        turns = (Turn("user", PROMPT, "m-1"),)
        execution = await service.start("alice", agent, turns, "c-1", None, record)
        assert execution.run is not None
        execution.run.cancel()
        await asyncio.wait([execution.run])
    assert [_outcome(event) for event in events] == [("coding", "error", "cancelled")]
    # Nor does it keep its admission slot or its place among the running tasks.
    assert client.app[ADMISSION_KEY].in_flight == 0
    assert service.running == {}


async def test_failed_and_rejected_tasks_are_audited_with_their_codes(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    client = await make_agent_client(agent_config(fake, max_retries=0))
    with audit_events() as events:
        fake.openai.script(Behavior(status=400, message="prompt is too long"))
        rejected = await rpc(client, "SendMessage", {"message": message(PROMPT)}, auth)
        fake.openai.script(Behavior(status=500, message="upstream down"))
        fake.anthropic.script(Behavior(status=500, message="fallback down too"))
        failed = await rpc(client, "SendMessage", {"message": message(PROMPT)}, auth)
    assert rejected["result"]["task"]["status"]["state"] == "TASK_STATE_REJECTED"
    assert failed["result"]["task"]["status"]["state"] == "TASK_STATE_FAILED"
    assert [_outcome(event)[:2] for event in events] == [("coding", "error")] * 2
    assert events[0]["reason"] == "provider_invalid_request"
    assert events[1]["reason"].startswith("upstream_")


async def test_a_task_running_at_shutdown_is_audited(
    client: Client, fake: FakeServer, auth: dict[str, str]
) -> None:
    fake.openai.script(SLOW)
    with audit_events() as events:
        await rpc(client, "SendMessage", LATER, auth)
        await asyncio.sleep(0.2)
        service = client.app[A2A_KEY].service
        assert service is not None
        await service.stop()
    assert [_outcome(event) for event in events] == [("coding", "error", "server_shutting_down")]


async def test_messages_refused_before_a_task_are_audited(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    base = agent_config(fake).model_dump()["server"]
    client = await make_agent_client(server={**base, "max_inflight_runs": 1})
    fake.openai.default = Behavior(header_delay=0.5)
    with audit_events() as events:
        await rpc(client, "SendMessage", {"message": {}}, auth)
        first = asyncio.create_task(rpc(client, "SendMessage", {"message": message("a")}, auth))
        await asyncio.sleep(0.2)
        await rpc(client, "SendMessage", {"message": message("b")}, auth, status=503)
        await first
    assert [_outcome(event) for event in events] == [
        ("coding", "error", "invalid_request"),
        ("coding", "error", "server_overloaded"),
        ("coding", "ok", None),
    ]
