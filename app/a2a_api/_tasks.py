"""Running A2A tasks: a message starts a task that runs the agent in the background (so a task
outlives the request that started it and is read, followed or cancelled later, on any replica
when they share the store). Each change of state is saved; followers of a task running here see
its changes at once, followers on another replica poll the store.

A task runs under the server's admission (a slot from submitted to its final state), the
caller's token budget, and the agent's timeout; a failure (budget spent, provider down) ends it
``failed`` with the error's message, a request the provider refuses as invalid ``rejected``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Final

import structlog

from app.config import A2aSettings
from app.core import (
    Admission,
    Agent,
    AgentRunner,
    AuditRecord,
    RunOptions,
    TokenAccount,
    ToolCallStarted,
)
from app.errors import APIError
from app.providers import ChatMessage

from ._metrics import A2aMetrics
from ._store import TaskStore, subject_digest
from ._wire import State, Task, Turn, new_id, now_iso

log = structlog.get_logger("agentsmcp.a2a")

# How often a follower on another replica reads a task it does not run.
POLL_SECONDS: Final = 0.25
# A follower of a task run elsewhere stops after this long past the agent's timeout.
FOLLOW_MARGIN_SECONDS: Final = 30.0
STOP_SECONDS: Final = 2.0


def task_key(subject: str, task_id: str) -> str:
    return f"{subject_digest(subject)}:{task_id}"


@dataclass(eq=False)
class Execution:
    """A task running in this process, the event its followers wait on, and the audit record
    of the invocation that started it (logged once, when the task ends)."""

    subject: str
    task: Task
    audit: AuditRecord | None = None
    run: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def end_audit(self, failure: APIError | str | None) -> None:
        """Log the audit event, if not yet logged: the run's outcome, or ``failure``."""
        record, self.audit = self.audit, None
        if record is None:
            return
        if failure is not None:
            record.failed(failure)
        record.emit()

    def update(self, task: Task) -> None:
        self.task = task
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def snapshots(self) -> AsyncIterator[Task]:
        while True:
            changed, task = self._changed, self.task
            yield task
            if task.terminal:
                return
            await changed.wait()


@dataclass(eq=False)
class TaskService:
    """Starts, follows and cancels A2A tasks: ``running`` holds those executing in this process,
    ``store`` every task."""

    _settings: A2aSettings
    _runner: AgentRunner
    _admission: Admission
    _metrics: A2aMetrics
    store: TaskStore
    running: dict[str, Execution] = field(default_factory=dict, init=False)
    _stopping: bool = field(default=False, init=False)

    async def start(
        self,
        subject: str,
        agent: Agent,
        turns: tuple[Turn, ...],
        context_id: str,
        account: TokenAccount | None,
        audit: AuditRecord | None = None,
    ) -> Execution:
        """Submit a task; raises ServerOverloadedError before anything is kept when shedding.
        ``audit``, once the task is submitted, is the task's to log when it ends."""
        slot = contextlib.ExitStack()
        slot.enter_context(self._admission.admit())
        task = Task(new_id(), context_id, agent.name, "submitted", now_iso(), turns)
        execution = Execution(subject, task, audit)
        try:
            await self.store.save(subject, task)
        except BaseException:
            slot.close()
            raise
        key = task_key(subject, task.id)
        self.running[key] = execution
        execution.run = asyncio.create_task(
            self._run(key, execution, agent, account, slot), name=f"a2a-task-{task.id}"
        )
        execution.run.add_done_callback(lambda _: self._ended(key, execution, slot))
        return execution

    def _ended(self, key: str, execution: Execution, slot: contextlib.ExitStack) -> None:
        """A task cancelled before its first step never runs _run's body: free its admission
        slot and its place here, and log its audit record (each a no-op when _run did)."""
        slot.close()
        self.running.pop(key, None)
        execution.end_audit("cancelled")

    async def _run(
        self,
        key: str,
        execution: Execution,
        agent: Agent,
        account: TokenAccount | None,
        slot: contextlib.ExitStack,
    ) -> None:
        started = time.monotonic()
        task = execution.task
        failure: APIError | str | None = None
        try:
            with slot:
                task = await self._change(execution, task.moved("working"))
                task = await self._complete(execution, agent, task, account)
        except asyncio.CancelledError:
            if self._stopping:
                note = "The server shut down before the task ended (server_shutting_down)."
                task, failure = execution.task.moved("failed", note), "server_shutting_down"
            else:
                task = execution.task.moved("canceled", "The task was canceled.")
                failure = "cancelled"
        except APIError as exc:
            # The provider refusing the request as invalid (too long, say) rejects the task; the
            # rest (budget, upstream failures, timeouts) are failures of the run.
            state: State = "rejected" if exc.status == 400 else "failed"
            task, failure = execution.task.moved(state, f"{exc.message} ({exc.code})"), exc
        except Exception:
            log.exception("a2a task failed", agent=agent.name)
            task = execution.task.moved("failed", "The agent failed (internal_error).")
            failure = "internal_error"
        finally:
            self.running.pop(key, None)
        await self._final(execution, task, started, failure)

    async def _complete(
        self, execution: Execution, agent: Agent, task: Task, account: TokenAccount | None
    ) -> Task:
        messages = [_chat(turn) for turn in task.history]
        options = RunOptions(conversation_id=task.context_id)
        stream = self._runner.stream(agent, messages, options, account)
        text: list[str] = []
        async with stream:
            async for item in stream:
                if type(item) is str:
                    text.append(item)
                elif isinstance(item, ToolCallStarted):
                    note = f"Calling tool {item.name} (step {item.step})."
                    task = await self._change(execution, task.moved("working", note))
        result = stream.result
        assert result is not None
        if execution.audit is not None:
            execution.audit.finished(result)
        answer_text = result.text or "".join(text)
        answer = Turn("agent", answer_text, new_id())
        done = replace(task, answer=answer_text, history=(*task.history, answer))
        if result.limit is None:
            return done.moved("completed")
        return done.moved("completed", f"The run stopped early: {result.limit}.")

    async def _change(self, execution: Execution, task: Task) -> Task:
        execution.update(task)
        stored = await self.store.save(execution.subject, task)
        if stored is not task:
            # Canceled on another replica: what followers see here too, until the relayed
            # cancel ends the run.
            execution.update(stored)
        return task

    async def _final(
        self, execution: Execution, task: Task, started: float, failure: APIError | str | None
    ) -> None:
        try:
            # A final state saved first (a cancel on another replica) stays the task's.
            task = await self.store.save(execution.subject, task)
        except APIError as exc:
            log.warning("a2a task: final state not saved", code=exc.code, task_id=task.id)
        execution.update(task)
        self._metrics.task_ended(task.agent, task.state, time.monotonic() - started)
        execution.end_audit(failure)

    def cancel_here(self, key: str) -> bool:
        execution = self.running.get(key)
        if execution is None or execution.run is None:
            return False
        execution.run.cancel()
        return True

    async def follow(self, subject: str, task: Task, run_seconds: float) -> AsyncIterator[Task]:
        """The task's states until its final one: at once when it runs here, else polled."""
        execution = self.running.get(task_key(subject, task.id))
        if execution is not None:
            async for snapshot in execution.snapshots():
                yield snapshot
            return
        deadline = time.monotonic() + run_seconds + FOLLOW_MARGIN_SECONDS
        yield task
        while not task.terminal and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            current = await self.store.load(subject, task.id)
            if current is None:
                return
            if current != task:
                task = current
                yield task

    async def final(self, subject: str, task: Task, run_seconds: float) -> Task:
        """The task's last state :meth:`follow` sees (its final one unless the wait ran out)."""
        last = task
        async for snapshot in self.follow(subject, task, run_seconds):
            last = snapshot
        return last

    async def context_turns(self, subject: str, context_id: str) -> tuple[Turn, ...]:
        """The newest finished turns of the conversation, bounded in count and characters."""
        limit, budget = self._settings.max_context_messages, self._settings.max_context_chars
        for task in await self.store.tasks(subject):
            if task.context_id == context_id and task.state == "completed":
                kept: list[Turn] = []
                for turn in reversed(task.history):
                    budget -= len(turn.text)
                    if len(kept) >= limit or budget < 0:
                        break
                    kept.append(turn)
                return tuple(reversed(kept))
        return ()

    async def stop(self) -> None:
        """Shutdown: cancel the tasks running here and let them save their final state."""
        self._stopping = True
        runs = [e.run for e in self.running.values() if e.run is not None]
        for run in runs:
            run.cancel()
        if runs:
            await asyncio.wait(runs, timeout=STOP_SECONDS)


def _chat(turn: Turn) -> ChatMessage:
    return ChatMessage("user" if turn.role == "user" else "assistant", turn.text)
