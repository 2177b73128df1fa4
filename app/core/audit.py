"""The audit trail: one ``audit`` event per agent invocation or refusal, on every front door.

Events go to the logger ``agentsmcp.audit`` and carry ``logger="agentsmcp.audit"``, so a log
pipeline can route them apart from the access log. They name who called (subject, issuer), through
which front door and client, which agent and tools, the outcome or refusal reason, the tokens and
the duration; never prompt or answer text (nor tool arguments or results).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

import structlog

from app.errors import APIError

from .run_types import RunResult

AUDIT_LOGGER: Final = "agentsmcp.audit"
# Not bound here: a logger bound at import would keep the processors of that moment, not those
# configure_logging sets later (redaction, rendering).
audit_log = structlog.get_logger(AUDIT_LOGGER)

# Client identities are cut to this many characters (a User-Agent can be long).
MAX_CLIENT_CHARS: Final = 200


@dataclass(slots=True)
class AuditRecord:
    """One invocation's audit event, filled in as the run goes and logged by :meth:`emit`."""

    front_door: str
    agent: str
    request_id: str | None
    subject: str | None
    issuer: str | None
    client: str | None
    started: float = field(default_factory=time.perf_counter)
    outcome: str = "ok"
    reason: str | None = None
    answered_by: str | None = None
    tools: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def finished(self, result: RunResult) -> None:
        """The run's result: who answered, the tools it called, its tokens."""
        self.answered_by = result.agent.name
        # A rejected call names no tool of ours: its name is model output, never logged.
        self.tools = [
            call.name
            for step in result.steps
            for call in step.tool_calls
            if call.outcome != "rejected"
        ]
        self.prompt_tokens = result.usage.prompt_tokens
        self.completion_tokens = result.usage.completion_tokens

    def refused(self, reason: str) -> None:
        self.outcome, self.reason = "refused", reason

    def failed(self, error: APIError | str) -> None:
        if self.outcome == "refused":
            return
        self.outcome = "error"
        self.reason = error.code if isinstance(error, APIError) else error

    def emit(self) -> None:
        audit_log.info(
            "audit",
            logger=AUDIT_LOGGER,
            request_id=self.request_id,
            subject=self.subject,
            issuer=self.issuer,
            front_door=self.front_door,
            client=self.client[:MAX_CLIENT_CHARS] if self.client else None,
            agent=self.agent,
            answered_by=self.answered_by,
            tools=self.tools,
            outcome=self.outcome,
            reason=self.reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
        )
