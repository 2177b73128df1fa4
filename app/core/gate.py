"""The front doors' one entrance to the agents: who may use which (app/core/access.py) and the
audit trail (app/core/audit.py), taken from the request.

Every front door, for every agent invocation::

    with audited(request, "openai", name) as audit:
        agent = agent_for(request, name)   # unknown or forbidden: AgentNotFoundError (404)
        result = ...                       # run it
        audit.finished(result)             # or audit.failed(error) for a failure it renders

and for every list of agents: ``visible_agents(request)``. A front door with its own "unknown"
error (MCP: the unknown-tool error) checks ``may_use(request, name)`` and calls
``audit.refused(reason)`` before raising it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Final

from aiohttp import hdrs, web

from app.app_keys import REQUEST_ID_KEY
from app.errors import APIError

from .access import caller
from .audit import AuditRecord
from .errors import AgentNotFoundError
from .keys import AGENT_METRICS_KEY, RUNNER_KEY
from .registry import Agent

# The front doors' names in the audit trail and the refusals metric.
OPENAI: Final = "openai"
RUNS: Final = "runs"
RESPONSES: Final = "responses"
MCP: Final = "mcp"
A2A: Final = "a2a"


def agent_for(request: web.Request, name: str) -> Agent:
    """The agent ``name`` if the request's caller may use it, else the unknown-agent error."""
    return request.config_dict[RUNNER_KEY].access.agent_for(caller(request), name)


def visible_agents(request: web.Request) -> list[Agent]:
    """The agents the request's caller may use (what /v1/models, /v1/agents and MCP list)."""
    return request.config_dict[RUNNER_KEY].access.visible_agents(caller(request))


def refusal(request: web.Request, name: str) -> str | None:
    """Why the request's caller may not use agent ``name`` (None: it may)."""
    access = request.config_dict[RUNNER_KEY].access
    return access.refusal(caller(request), access.registry.find(name))


def _record(request: web.Request, front_door: str, agent: str, client: str | None) -> AuditRecord:
    principal = caller(request)
    return AuditRecord(
        front_door,
        agent,
        request.get(REQUEST_ID_KEY),
        principal.subject if principal is not None else None,
        principal.issuer if principal is not None else None,
        client if client is not None else request.headers.get(hdrs.USER_AGENT),
    )


def _close(request: web.Request, record: AuditRecord) -> None:
    """Count a refusal in the metric, and log the record's one event."""
    if record.outcome == "refused" and record.reason is not None:
        metrics = request.config_dict[AGENT_METRICS_KEY]
        metrics.access_refusals_total.labels(record.front_door, record.reason).inc()
    record.emit()


def admitted(
    request: web.Request, front_door: str, name: str, *, client: str | None = None
) -> tuple[Agent, AuditRecord]:
    """For a run that outlives the request (A2A's tasks): the agent ``name`` and its audit
    record, still open: the caller logs it (``record.emit()``) once, when the run ends. Unknown
    or forbidden: the refusal is logged and counted here, and the unknown-agent error raised."""
    record = _record(request, front_door, name, client)
    try:
        return agent_for(request, name), record
    except AgentNotFoundError as exc:
        record.refused(exc.reason)
        _close(request, record)
        raise


@contextlib.contextmanager
def audited(
    request: web.Request, front_door: str, agent: str, *, client: str | None = None
) -> Iterator[AuditRecord]:
    """One audit event for the invocation of ``agent`` inside the block: a refusal (the
    unknown-agent error, or ``record.refused``), a failure or the outcome ``ok``. ``client``:
    the MCP clientInfo or A2A client; unset, the User-Agent."""
    record = _record(request, front_door, agent, client)
    try:
        yield record
    except AgentNotFoundError as exc:
        record.refused(exc.reason)
        raise
    except APIError as exc:
        record.failed(exc)
        raise
    except asyncio.CancelledError:
        record.failed("cancelled")
        raise
    except Exception:
        record.failed("internal_error")
        raise
    finally:
        _close(request, record)
