"""The authenticated extended card: advertised on each agent's card (not the server's), answered
by ``GetExtendedAgentCard`` (0.3: ``agent/getAuthenticatedExtendedCard``) on the agent's
endpoint with the agent's card, authenticated and counted like every JSON-RPC call."""

from __future__ import annotations

from typing import Any

from tests.app.conftest import Client

from .conftest import rpc

AGENT_CARD = "/a2a/coding/.well-known/agent-card.json"


async def _get(client: Client, path: str) -> dict[str, Any]:
    answer = await client.get(path)
    assert answer.status == 200
    body: dict[str, Any] = await answer.json()
    return body


async def test_agent_cards_advertise_it_and_the_server_card_does_not(client: Client) -> None:
    assert (await _get(client, AGENT_CARD))["capabilities"]["extendedAgentCard"] is True
    server = await _get(client, "/.well-known/agent-card.json")
    assert server["capabilities"]["extendedAgentCard"] is False
    legacy = await _get(client, "/a2a/coding/.well-known/agent.json")
    assert legacy["supportsAuthenticatedExtendedCard"] is True
    assert "extendedAgentCard" not in legacy["capabilities"]
    legacy_server = await _get(client, "/.well-known/agent.json")
    assert legacy_server["supportsAuthenticatedExtendedCard"] is False


async def test_get_extended_agent_card_is_the_agents_card(
    client: Client, auth: dict[str, str]
) -> None:
    body = await rpc(client, "GetExtendedAgentCard", {}, auth)
    assert body["id"] == 7
    assert body["result"] == await _get(client, AGENT_CARD)


async def test_the_0_3_method_answers_the_0_3_card(client: Client, auth: dict[str, str]) -> None:
    body = await rpc(client, "agent/getAuthenticatedExtendedCard", None, auth, headers={})
    assert body["result"] == await _get(client, "/a2a/coding/.well-known/agent.json")


async def test_it_needs_a_token_and_a_known_agent(client: Client, auth: dict[str, str]) -> None:
    answer = await client.post(
        "/a2a/coding", json={"jsonrpc": "2.0", "id": 1, "method": "GetExtendedAgentCard"}
    )
    assert answer.status == 401
    body = await rpc(client, "GetExtendedAgentCard", {}, auth, agent="nobody", status=404)
    assert body["error"]["data"]["code"] == "agent_not_found"


async def test_it_is_counted(client: Client, auth: dict[str, str]) -> None:
    await rpc(client, "GetExtendedAgentCard", {}, auth)
    await rpc(client, "agent/getAuthenticatedExtendedCard", {}, auth, headers={})
    text = await (await client.get("/metrics")).text()
    for method in ("GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard"):
        assert (
            f'agentsmcp_a2a_requests_total{{agent="coding",method="{method}",outcome="ok"}} 1.0'
            in text
        )
