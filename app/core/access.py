"""Who may use which agent: the one place every front door asks (docs/security.md).

An agent's rules are its ``access`` list, else ``auth.default_access``; with neither, any caller
may use it. A caller may use an agent when any one of its rules matches the caller's token. A
request without a principal (auth disabled, or a public path) matches no rule: it may use only
agents without rules.

A forbidden agent is refused with exactly the error of an unknown one (:func:`unknown_agent`),
raised from the same line after the same lookup, so an agent's existence does not leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from app.app_keys import PRINCIPAL_KEY
from app.auth import Principal
from app.config import AccessRule

from .errors import unknown_agent
from .registry import Agent, AgentRegistry

# Refusal reasons, for the audit trail and the refusals metric (never shown to the client).
UNKNOWN_AGENT = "unknown_agent"
NO_TOKEN = "no_token"  # noqa: S105 (a reason, not a secret)
FORBIDDEN = "forbidden"


def caller(request: web.Request) -> Principal | None:
    """The authenticated caller of ``request``, or None (auth disabled, or a public path)."""
    return request.get(PRINCIPAL_KEY)


def rule_matches(rule: AccessRule, principal: Principal) -> bool:
    """Every kind the rule sets matches the principal's token."""
    if rule.scopes is not None and not set(rule.scopes) <= principal.granted_scopes:
        return False
    if rule.subjects is not None and principal.subject not in rule.subjects:
        return False
    return rule.claims is None or all(
        _claim_matches(principal.claims.get(name), values) for name, values in rule.claims.items()
    )


def _claim_matches(value: Any, allowed: Sequence[str]) -> bool:
    if isinstance(value, str):
        return value in allowed
    if isinstance(value, list):
        return any(isinstance(item, str) and item in allowed for item in value)
    return False


class AgentAccess:
    """The agents a caller may use. Front doors call :meth:`agent_for` (one agent, by name) and
    :meth:`visible_agents` (lists), never the registry directly."""

    def __init__(
        self, registry: AgentRegistry, default_rules: Sequence[AccessRule] | None = None
    ) -> None:
        self.registry = registry
        self._default_rules = tuple(default_rules) if default_rules is not None else None

    def rules_of(self, agent: Agent) -> tuple[AccessRule, ...] | None:
        """The agent's rules; None: any caller may use it."""
        own = agent.settings.access
        return tuple(own) if own is not None else self._default_rules

    def refusal(self, principal: Principal | None, agent: Agent | None) -> str | None:
        """Why ``principal`` may not use ``agent`` (None: it may)."""
        if agent is None:
            return UNKNOWN_AGENT
        rules = self.rules_of(agent)
        if rules is None:
            return None
        if principal is None:
            return NO_TOKEN
        return None if any(rule_matches(rule, principal) for rule in rules) else FORBIDDEN

    def allows(self, principal: Principal | None, agent: Agent) -> bool:
        return self.refusal(principal, agent) is None

    def agent_for(self, principal: Principal | None, name: str) -> Agent:
        """The agent ``name`` if ``principal`` may use it; else the unknown-agent error (404,
        ``agent_not_found``) whether it is missing or forbidden. ``reason`` on the error says
        which, for the audit trail only."""
        agent = self.registry.find(name)
        reason = self.refusal(principal, agent)
        if agent is None or reason is not None:
            raise unknown_agent(name, reason or UNKNOWN_AGENT)
        return agent

    def visible_agents(self, principal: Principal | None) -> list[Agent]:
        """The agents ``principal`` may use, in configuration order."""
        return [agent for agent in self.registry if self.allows(principal, agent)]

    def visible_names(self, principal: Principal | None) -> frozenset[str]:
        return frozenset(agent.name for agent in self.visible_agents(principal))
