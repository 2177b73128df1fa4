"""The access rules (app/core/access.py): who may use which agent, and how a refusal looks."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth import Principal
from app.config import AccessRule, ConfigError, parse_config
from app.core import AgentAccess, AgentNotFoundError, AgentRegistry
from app.core.access import FORBIDDEN, NO_TOKEN, UNKNOWN_AGENT, rule_matches
from tests.app.conftest import make_config

AGENT = {"provider": "openai", "model": "gpt-4o"}


def principal(subject: str = "alice", **claims: Any) -> Principal:
    return Principal(subject, issuer="agentsmcp", claims={"sub": subject, **claims})


def rule(**kinds: Any) -> AccessRule:
    return AccessRule.model_validate(kinds)


@pytest.mark.parametrize(
    ("kinds", "caller", "expected"),
    [
        ({"scopes": ["a:read"]}, principal(scope="a:read b:write"), True),
        ({"scopes": ["a:read", "b:write"]}, principal(scope="a:read"), False),
        ({"scopes": ["a:read"]}, principal(scp=["a:read"]), True),
        ({"scopes": ["a:read"]}, principal(scp="a:read other"), True),
        ({"scopes": ["a:read"]}, principal(), False),
        ({"subjects": ["alice", "bob"]}, principal("bob"), True),
        ({"subjects": ["alice"]}, principal("mallory"), False),
        ({"claims": {"groups": ["platform"]}}, principal(groups=["web", "platform"]), True),
        ({"claims": {"groups": ["platform"]}}, principal(groups="platform"), True),
        ({"claims": {"groups": ["platform"]}}, principal(groups=["web"]), False),
        ({"claims": {"groups": ["platform"]}}, principal(), False),
        ({"claims": {"admin": ["true"]}}, principal(admin=True), False),
        # Every kind a rule sets must match.
        ({"subjects": ["alice"], "scopes": ["a:read"]}, principal(scope="b"), False),
        ({"subjects": ["alice"], "scopes": ["a:read"]}, principal(scope="a:read"), True),
    ],
)
def test_rule_matches(kinds: dict[str, Any], caller: Principal, expected: bool) -> None:
    assert rule_matches(rule(**kinds), caller) is expected


def test_oidc_scopes_win_over_the_claims() -> None:
    oidc = Principal("svc", scopes=frozenset({"a:read"}), claims={"scope": "other"})
    assert rule_matches(rule(scopes=["a:read"]), oidc)


def access(default: list[dict[str, Any]] | None = None) -> AgentAccess:
    config = make_config(
        agents={
            "open": AGENT,
            "team-a": {**AGENT, "access": [{"claims": {"groups": ["team-a"]}}]},
        },
        auth={"default_access": default} if default is not None else {},
    )
    registry = AgentRegistry(config.agents, {})
    return AgentAccess(registry, config.auth.default_access)


def test_agents_without_rules_are_open_to_every_caller_with_a_token() -> None:
    rules = access()
    names = [agent.name for agent in rules.visible_agents(principal())]
    assert names == ["open"]
    assert [a.name for a in rules.visible_agents(principal(groups=["team-a"]))] == [
        "open",
        "team-a",
    ]


def test_default_access_applies_to_agents_without_their_own() -> None:
    rules = access([{"scopes": ["agents:invoke"]}])
    assert rules.visible_agents(principal()) == []
    assert [a.name for a in rules.visible_agents(principal(scope="agents:invoke"))] == ["open"]
    # An agent's own rules replace the default, they do not add to it.
    assert [a.name for a in rules.visible_agents(principal(groups=["team-a"]))] == ["team-a"]


def test_without_a_principal_only_agents_without_rules_are_usable() -> None:
    rules = access()
    assert [agent.name for agent in rules.visible_agents(None)] == ["open"]
    assert rules.agent_for(None, "open").name == "open"
    with pytest.raises(AgentNotFoundError) as refused:
        rules.agent_for(None, "team-a")
    assert refused.value.reason == NO_TOKEN


def test_a_forbidden_agent_is_refused_exactly_as_an_unknown_one() -> None:
    rules = access()
    with pytest.raises(AgentNotFoundError) as forbidden:
        rules.agent_for(principal(), "team-a")
    # "team-b" does not exist; the name has the same length so the messages compare.
    with pytest.raises(AgentNotFoundError) as unknown:
        rules.agent_for(principal(), "team-b")
    assert (forbidden.value.reason, unknown.value.reason) == (FORBIDDEN, UNKNOWN_AGENT)
    forbidden_body = forbidden.value.body()
    unknown_body = unknown.value.body()
    assert forbidden_body["error"]["message"].replace("team-a", "X") == unknown_body["error"][
        "message"
    ].replace("team-b", "X")
    assert {**forbidden_body["error"], "message": ""} == {**unknown_body["error"], "message": ""}
    assert forbidden.value.status == unknown.value.status == 404
    assert forbidden.value.headers == unknown.value.headers == {}


@pytest.mark.parametrize(
    ("access_value", "problem"),
    [
        ([], "agents.x.access: List should have at least 1 item after validation, not 0"),
        ([{}], "agents.x.access.0: Value error, a rule needs scopes, subjects or claims"),
        ([{"scopes": []}], "agents.x.access.0.scopes: List should have at least 1 item"),
        ([{"claims": {"groups": []}}], "agents.x.access.0.claims.groups: List should have"),
        ([{"roles": ["x"]}], "agents.x.access.0.roles: unknown key"),
        ([{"scopes": ["has space"]}], "agents.x.access.0.scopes.0: String should match"),
    ],
)
def test_invalid_rules_are_one_line_config_errors(access_value: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"jwt_secret_key": "s", "agents": {"x": {**AGENT, "access": access_value}}})
    assert len(error.value.problems) == 1
    assert "\n" not in error.value.problems[0]
    assert error.value.problems[0].startswith(problem.replace("Value error, ", ""))


def test_default_access_is_validated_too() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"jwt_secret_key": "s", "auth": {"default_access": [{}]}})
    assert error.value.problems == [
        "auth.default_access.0: a rule needs scopes, subjects or claims"
    ]
