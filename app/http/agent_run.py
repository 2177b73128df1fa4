"""The skeleton every HTTP door's agent run shares: one audit event from the start, the agent
resolved and access-checked, then the token account and the connection watch around the run.
A door passes only its own parts: its gate, the agent's name, its input and its rendering."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aiohttp import web

from app.app_keys import SHUTDOWN_DEADLINE_KEY
from app.core import (
    RUNNER_KEY,
    Agent,
    AgentRunner,
    AuditRecord,
    ConnectionWatch,
    RunOptions,
    RunResult,
    RunStream,
    TokenAccount,
    ToolRun,
    agent_for,
    audited,
)
from app.limits import account_for
from app.providers import ChatMessage

from .responses import ServerShuttingDownError


@contextlib.contextmanager
def audited_agent(
    request: web.Request, front_door: str, name: str
) -> Iterator[tuple[AuditRecord, Agent]]:
    """The invocation of agent ``name`` audited (a refusal included) and the agent, if allowed."""
    with audited(request, front_door, name) as audit:
        yield audit, agent_for(request, name)


@dataclass(frozen=True, slots=True)
class AgentRun:
    """An audited run of ``agent`` with its token account, watched for the client leaving."""

    request: web.Request
    runner: AgentRunner
    agent: Agent
    audit: AuditRecord
    account: TokenAccount | None
    watch: ConnectionWatch

    def stream(self, messages: Sequence[ChatMessage], options: RunOptions) -> RunStream | ToolRun:
        return self.runner.stream(self.agent, messages, options, self.account)

    async def complete(self, messages: Sequence[ChatMessage], options: RunOptions) -> RunResult:
        """The run to its end, audited as finished; a shutdown deadline passed is a 503."""
        try:
            result = await self.runner.complete(self.agent, messages, options, self.account)
        except asyncio.CancelledError:
            if self.watch.absorb_shutdown():
                raise ServerShuttingDownError() from None
            raise
        self.audit.finished(result)
        return result


@contextlib.contextmanager
def watched_run(request: web.Request, audit: AuditRecord, agent: Agent) -> Iterator[AgentRun]:
    """A run of ``agent`` for ``request``, cancelled when its client goes or shutdown ends."""
    account = account_for(request)
    with ConnectionWatch(request, request.app[SHUTDOWN_DEADLINE_KEY]) as watch:
        yield AgentRun(request, request.app[RUNNER_KEY], agent, audit, account, watch)
