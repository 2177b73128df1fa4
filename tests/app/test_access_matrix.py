"""Per-agent access rules on every front door (docs/security.md), proven with real tokens: the
OpenID provider of tests/oidc (client-credentials tokens with scopes and a groups claim) and this
server's HS256 tokens, against three agents x four callers x every front door (chat completions,
runs, Responses, MCP through the official mcp client, A2A's JSON-RPC and cards), on the real
server on a loopback port.

Every refusal looks exactly like an unknown agent; lists never show a forbidden agent; every
invocation and refusal leaves one audit event, which never holds prompt or answer text."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from mcp.shared.exceptions import McpError

from app.app_keys import METRICS_KEY
from app.core import AUDIT_LOGGER
from app.server import create_app
from tests.app.conftest import make_token
from tests.app.mcp.conftest import mcp_session
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config
from tests.oidc import TEAM_A_CLIENT, TEAM_B_CLIENT, OidcProvider

pytestmark = pytest.mark.slow

RESOURCE = "https://agents.example.com/mcp"
PROMPT = "PROMPT-TEXT-4b1d9e never log me"
ANSWER = "Hello, world!"
AGENT = {"provider": "openai", "model": "gpt-4o", "timeout": 10, "max_tokens": 64}
AGENTS: dict[str, dict[str, Any]] = {
    # No rules of its own: auth.default_access (the agents:invoke scope).
    "general": AGENT,
    "team-a": {**AGENT, "access": [{"claims": {"groups": ["team-a"]}}, {"subjects": ["hs-admin"]}]},
    "reader": {**AGENT, "access": [{"scopes": ["agents:read"]}]},
}
# For each agent, a name of the same length that no agent has: its refusal is the reference.
UNKNOWN = {"general": "generax", "team-a": "team-z", "reader": "readex"}
# Caller -> the agents it may use.
ALLOWED = {
    "oidc-team-a": {"general", "team-a"},
    "oidc-team-b": {"general", "reader"},
    "hs-admin": {"team-a"},
    "hs-reader": {"reader"},
}
FRONT_DOORS = ("openai", "runs", "responses", "mcp", "a2a")
A2A_VERSION = {"A2A-Version": "1.0"}
# Headers that differ between any two responses.
VOLATILE_HEADERS = {"X-Request-ID", "Date"}


@dataclass
class Setup:
    url: str
    app: web.Application
    tokens: dict[str, str]
    issuer: str


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    started = OidcProvider(tmp_path_factory.mktemp("oidc")).start()
    yield started
    started.stop()


@pytest.fixture
async def setup(fake: FakeServer, provider: OidcProvider) -> AsyncIterator[Setup]:
    config = agent_config(
        fake,
        agents=AGENTS,
        auth={
            "oidc": {"issuer": provider.issuer, "audience": RESOURCE},
            "default_access": [{"scopes": ["agents:invoke"]}],
        },
        mcp={"progress_interval_seconds": 0.1, "keepalive_seconds": 0.1},
    )
    tokens = {
        "oidc-team-a": await provider.token(
            resource=RESOURCE, scope="agents:invoke", client_id=TEAM_A_CLIENT
        ),
        "oidc-team-b": await provider.token(
            resource=RESOURCE, scope="agents:invoke agents:read", client_id=TEAM_B_CLIENT
        ),
        "hs-admin": make_token("hs-admin"),
        "hs-reader": make_token("hs-reader", scope="agents:read"),
    }
    app = create_app(config)
    async with serve(app) as url:
        yield Setup(url, app, tokens, provider.issuer)


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a loopback port: its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


async def _post(
    url: str, token: str, body: dict[str, Any], extra: dict[str, str] | None = None
) -> Answer:
    headers = {"Authorization": f"Bearer {token}", **(extra or {})}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body, headers=headers) as response,
    ):
        kept = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
        return Answer(response.status, kept, await response.text())


async def invoke(setup: Setup, door: str, caller: str, agent: str) -> Answer:
    """``agent`` asked through ``door`` by ``caller``; MCP: the tool result or error as text."""
    token, messages = setup.tokens[caller], [{"role": "user", "content": PROMPT}]
    if door == "openai":
        body = {"model": agent, "messages": messages}
        return await _post(f"{setup.url}/v1/chat/completions", token, body)
    if door == "runs":
        return await _post(f"{setup.url}/v1/agents/{agent}/runs", token, {"input": messages})
    if door == "responses":
        body = {"model": agent, "input": PROMPT, "store": False}
        return await _post(f"{setup.url}/v1/responses", token, body)
    if door == "a2a":
        return await a2a_call(setup, caller, agent, "SendMessage", {"message": a2a_message()})
    async with mcp_session(f"{setup.url}/mcp", token) as session:
        try:
            result = await session.call_tool(agent, {"task": PROMPT})
        except McpError as exc:
            return Answer(exc.error.code, {}, json.dumps(exc.error.model_dump()))
    return Answer(200, {}, json.dumps(result.structuredContent))


def a2a_message() -> dict[str, Any]:
    return {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": PROMPT}]}


async def a2a_call(setup: Setup, caller: str, agent: str, method: str, params: Any) -> Answer:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    return await _post(f"{setup.url}/a2a/{agent}", setup.tokens[caller], body, A2A_VERSION)


async def listed(setup: Setup, caller: str) -> dict[str, set[str]]:
    """The agents each list shows ``caller``: /v1/models, /v1/agents and MCP tools/list."""
    headers = {"Authorization": f"Bearer {setup.tokens[caller]}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{setup.url}/v1/models") as response:
            models = {model["id"] for model in (await response.json())["data"]}
        async with http.get(f"{setup.url}/v1/agents") as response:
            agents = {agent["name"] for agent in (await response.json())["data"]}
    async with mcp_session(f"{setup.url}/mcp", setup.tokens[caller]) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
    return {"/v1/models": models, "/v1/agents": agents, "tools/list": tools}


@pytest.mark.parametrize("caller", sorted(ALLOWED))
async def test_lists_show_exactly_the_agents_the_caller_may_use(setup: Setup, caller: str) -> None:
    lists = await listed(setup, caller)
    assert lists == dict.fromkeys(lists, ALLOWED[caller])


def _same_refusal(refused: Answer, unknown: Answer, agent: str) -> None:
    assert refused.status == unknown.status
    assert refused.headers == unknown.headers
    assert refused.body.replace(agent, "@") == unknown.body.replace(UNKNOWN[agent], "@")


@pytest.mark.parametrize("door", FRONT_DOORS)
async def test_every_caller_uses_its_agents_and_every_refusal_looks_unknown(
    setup: Setup, door: str
) -> None:
    with structlog.testing.capture_logs() as logs:
        for caller, allowed in sorted(ALLOWED.items()):
            for agent in AGENTS:
                answer = await invoke(setup, door, caller, agent)
                if agent in allowed:
                    assert answer.status == 200, (caller, agent, answer.body)
                    assert ANSWER in answer.body
                    continue
                unknown = await invoke(setup, door, caller, UNKNOWN[agent])
                assert answer.status in (404, -32602), (caller, agent, answer)
                _same_refusal(answer, unknown, agent)
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    _check_audit_trail(audits, setup, door)


def _check_audit_trail(audits: list[dict[str, Any]], setup: Setup, door: str) -> None:
    """One event per invocation (allowed, forbidden, unknown); none holds prompt or answer."""
    expected: list[tuple[str, str, str]] = []
    for caller, allowed in sorted(ALLOWED.items()):
        for agent in AGENTS:
            if agent in allowed:
                expected.append((caller, agent, "ok"))
            else:
                expected += [(caller, agent, "forbidden"), (caller, UNKNOWN[agent], "unknown")]
    subjects = {
        "oidc-team-a": TEAM_A_CLIENT,
        "oidc-team-b": TEAM_B_CLIENT,
        "hs-admin": "hs-admin",
        "hs-reader": "hs-reader",
    }
    seen = [
        (event["subject"], event["agent"], event["outcome"], event["reason"]) for event in audits
    ]
    assert seen == [
        (
            subjects[caller],
            agent,
            "ok" if kind == "ok" else "refused",
            None if kind == "ok" else ("forbidden" if kind == "forbidden" else "unknown_agent"),
        )
        for caller, agent, kind in expected
    ]
    for event in audits:
        assert event["event"] == "audit"
        assert event["front_door"] == door
        assert event["request_id"]
        assert event["issuer"] == (
            setup.issuer if event["subject"].startswith("team-") else "agentsmcp"
        )
        assert event["client"]
        assert event["duration_ms"] >= 0
        if event["outcome"] == "ok":
            assert event["prompt_tokens"] > 0
            assert event["completion_tokens"] > 0
        text = json.dumps(event)
        assert PROMPT not in text
        assert "PROMPT-TEXT" not in text
        assert ANSWER not in text


async def test_refusals_are_counted_by_reason(setup: Setup) -> None:
    await invoke(setup, "openai", "hs-admin", "reader")
    await invoke(setup, "mcp", "hs-admin", "readex")
    await invoke(setup, "a2a", "hs-reader", "general")
    await invoke(setup, "a2a", "hs-reader", "generax")
    registry = setup.app[METRICS_KEY].registry
    counted = (
        ("openai", "forbidden"),
        ("mcp", "unknown_agent"),
        ("a2a", "forbidden"),
        ("a2a", "unknown_agent"),
    )
    for door, reason in counted:
        count = registry.get_sample_value(
            "agentsmcp_access_refusals_total", {"front_door": door, "reason": reason}
        )
        assert count == 1


STREAM_BODIES = {
    "openai": ("/v1/chat/completions", {"model": "{agent}", "stream": True}),
    "runs": ("/v1/agents/{agent}/runs", {"stream": True}),
    "responses": ("/v1/responses", {"model": "{agent}", "stream": True, "store": False}),
}


async def _stream(setup: Setup, door: str, caller: str, agent: str) -> Answer:
    path, template = STREAM_BODIES[door]
    body = {
        key: value.format(agent=agent) if isinstance(value, str) else value
        for key, value in template.items()
    }
    body["messages" if door == "openai" else "input"] = (
        [{"role": "user", "content": PROMPT}] if door != "responses" else PROMPT
    )
    return await _post(setup.url + path.format(agent=agent), setup.tokens[caller], body)


@pytest.mark.parametrize("door", sorted(STREAM_BODIES))
async def test_streamed_runs_are_audited_and_refused_alike(setup: Setup, door: str) -> None:
    with structlog.testing.capture_logs() as logs:
        allowed = await _stream(setup, door, "oidc-team-a", "team-a")
        refused = await _stream(setup, door, "oidc-team-a", "reader")
        unknown = await _stream(setup, door, "oidc-team-a", UNKNOWN["reader"])
    assert allowed.status == 200
    assert allowed.headers["Content-Type"].startswith("text/event-stream")
    assert refused.status == 404
    _same_refusal(refused, unknown, "reader")
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert [(event["agent"], event["outcome"], event["reason"]) for event in audits] == [
        ("team-a", "ok", None),
        ("reader", "refused", "forbidden"),
        ("readex", "refused", "unknown_agent"),
    ]
    assert audits[0]["completion_tokens"] > 0
    assert PROMPT not in json.dumps(audits)
    assert ANSWER not in json.dumps(audits)


CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")


async def _get(url: str, token: str | None) -> Answer:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        kept = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
        return Answer(response.status, kept, await response.text())


@pytest.mark.parametrize("caller", [None, *sorted(ALLOWED)])
async def test_a2a_cards_show_no_agent_with_rules(setup: Setup, caller: str | None) -> None:
    """The cards are public and read no token: with auth.default_access every agent has rules,
    so the server card lists none and each agent's card is refused as an unknown agent's."""
    token = None if caller is None else setup.tokens[caller]
    with structlog.testing.capture_logs() as logs:
        for path in CARD_PATHS:
            server = await _get(setup.url + path, token)
            assert server.status == 200
            card = json.loads(server.body)
            assert card["skills"] == []
            assert card.get("supportedInterfaces", []) == []
            for agent in AGENTS:
                assert agent not in server.body
                refused = await _get(f"{setup.url}/a2a/{agent}{path}", token)
                unknown = await _get(f"{setup.url}/a2a/{UNKNOWN[agent]}{path}", token)
                assert refused.status == 404
                _same_refusal(refused, unknown, agent)
    assert [event for event in logs if event.get("logger") == AUDIT_LOGGER] == []


async def test_a2a_cards_list_only_the_agents_without_rules(
    fake: FakeServer, provider: OidcProvider
) -> None:
    """Without auth.default_access, ``general`` has no rules: the cards show it and only it."""
    config = agent_config(
        fake, agents=AGENTS, auth={"oidc": {"issuer": provider.issuer, "audience": RESOURCE}}
    )
    async with serve(create_app(config)) as url:
        token = make_token("hs-admin")
        for path in CARD_PATHS:
            server = json.loads((await _get(url + path, token)).body)
            assert [skill["id"] for skill in server["skills"]] == ["general"]
            assert "team-a" not in json.dumps(server)
            assert "reader" not in json.dumps(server)
            own = await _get(f"{url}/a2a/general{path}", None)
            assert own.status == 200
            assert [skill["id"] for skill in json.loads(own.body)["skills"]] == ["general"]
            for agent in ("team-a", "reader"):
                refused = await _get(f"{url}/a2a/{agent}{path}", token)
                _same_refusal(
                    refused, await _get(f"{url}/a2a/{UNKNOWN[agent]}{path}", token), agent
                )
        legacy = json.loads((await _get(url + CARD_PATHS[1], None)).body)
        assert legacy["url"] == f"{url}/a2a/general"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("GetTask", {"id": "{task}"}),
        ("ListTasks", {}),
        ("CancelTask", {"id": "{task}"}),
        ("SubscribeToTask", {"id": "{task}"}),
        ("SendStreamingMessage", {"message": "{message}"}),
        ("tasks/get", {"id": "{task}"}),
    ],
)
async def test_a2a_task_methods_on_a_forbidden_agent_look_unknown(
    setup: Setup, method: str, params: dict[str, str]
) -> None:
    """hs-admin's own task on team-a, asked for through reader (forbidden) and readex (unknown):
    the same 404, whatever the method; each refusal audited, never with prompt text."""
    sent = await a2a_call(setup, "hs-admin", "team-a", "SendMessage", {"message": a2a_message()})
    task_id = json.loads(sent.body)["result"]["task"]["id"]
    filled = {
        key: a2a_message() if value == "{message}" else task_id for key, value in params.items()
    }
    with structlog.testing.capture_logs() as logs:
        refused = await a2a_call(setup, "hs-admin", "reader", method, filled)
        unknown = await a2a_call(setup, "hs-admin", "readex", method, filled)
    assert refused.status == 404
    _same_refusal(refused, unknown, "reader")
    assert task_id not in refused.body
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert [(e["front_door"], e["agent"], e["reason"]) for e in audits] == [
        ("a2a", "reader", "forbidden"),
        ("a2a", "readex", "unknown_agent"),
    ]
    assert PROMPT not in json.dumps(audits)
    got = await a2a_call(setup, "hs-admin", "team-a", "GetTask", {"id": task_id})
    assert json.loads(got.body)["result"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize(
    ("method", "version", "card_path"),
    [
        ("GetExtendedAgentCard", A2A_VERSION, CARD_PATHS[0]),
        ("agent/getAuthenticatedExtendedCard", {}, CARD_PATHS[1]),
    ],
)
async def test_a2a_extended_card_shows_exactly_the_agents_the_caller_may_use(
    fake: FakeServer,
    provider: OidcProvider,
    setup: Setup,
    method: str,
    version: dict[str, str],
    card_path: str,
) -> None:
    """Every caller x every agent: the authenticated extended card is the agent's full card
    (as the public card would be without rules) for an agent the caller may use, guarded or
    not, and an unknown agent's refusal otherwise; only the refusals are audited."""
    oidc = {"oidc": {"issuer": provider.issuer, "audience": RESOURCE}}
    open_cards = agent_config(fake, agents=dict.fromkeys(AGENTS, AGENT), auth=oidc)
    async with serve(create_app(open_cards)) as open_url:
        expected = {
            agent: (await _get(f"{open_url}/a2a/{agent}{card_path}", None)).body.replace(
                open_url, setup.url
            )
            for agent in AGENTS
        }
    refusals: list[tuple[str, str]] = []
    with structlog.testing.capture_logs() as logs:
        for caller, allowed in sorted(ALLOWED.items()):
            for agent in AGENTS:
                body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": {}}
                url, token = f"{setup.url}/a2a/{agent}", setup.tokens[caller]
                answer = await _post(url, token, body, version)
                if agent in allowed:
                    assert answer.status == 200, (caller, agent, answer.body)
                    assert json.loads(answer.body)["result"] == json.loads(expected[agent])
                    continue
                other = f"{setup.url}/a2a/{UNKNOWN[agent]}"
                _same_refusal(answer, await _post(other, token, body, version), agent)
                assert answer.status == 404
                refusals += [(agent, "forbidden"), (UNKNOWN[agent], "unknown_agent")]
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert [(e["front_door"], e["agent"], e["reason"]) for e in audits] == [
        ("a2a", agent, reason) for agent, reason in refusals
    ]


async def test_a2a_stream_is_audited_once_with_its_outcome(setup: Setup) -> None:
    with structlog.testing.capture_logs() as logs:
        answer = await a2a_call(
            setup, "oidc-team-b", "reader", "SendStreamingMessage", {"message": a2a_message()}
        )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert "TASK_STATE_COMPLETED" in answer.body
    [audit] = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert (audit["front_door"], audit["agent"], audit["outcome"]) == ("a2a", "reader", "ok")
    assert audit["subject"] == TEAM_B_CLIENT
    assert audit["completion_tokens"] > 0
    assert PROMPT not in json.dumps(audit)
    assert ANSWER not in json.dumps(audit)
