"""The agent cards: public, cacheable (ETag, 304), the agents as skills, one card per agent with
its JSON-RPC interface at protocol 1.0, the security schemes, and 0.3's agent.json."""

from __future__ import annotations

from typing import Any

from tests.app.conftest import AgentClientFactory, Client
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

OIDC = {"issuer": "https://idp.example.com", "audience": "https://agents.example.com"}


async def card(client: Client, path: str) -> dict[str, Any]:
    answer = await client.get(path)
    assert answer.status == 200, await answer.text()
    assert answer.headers["Cache-Control"].startswith("public")
    body: dict[str, Any] = await answer.json()
    return body


async def test_server_card_lists_agents_as_skills(client: Client) -> None:
    body = await card(client, "/.well-known/agent-card.json")
    assert body["name"] == "agentsmcp"
    assert [skill["id"] for skill in body["skills"]] == ["coding", "coding-claude"]
    base = str(client.make_url("")).rstrip("/")
    assert body["supportedInterfaces"][0] == {
        "url": f"{base}/a2a/coding",
        "protocolBinding": "JSONRPC",
        "protocolVersion": "1.0",
    }
    assert body["capabilities"]["streaming"] is True
    assert body["defaultInputModes"] == body["defaultOutputModes"] == ["text/plain"]


async def test_agent_card_carries_its_interface_and_bearer_jwt(client: Client) -> None:
    body = await card(client, "/a2a/coding-claude/.well-known/agent-card.json")
    assert body["name"] == "coding-claude"
    [interface] = body["supportedInterfaces"]
    assert interface["url"].endswith("/a2a/coding-claude")
    assert interface["protocolVersion"] == "1.0"
    assert body["securitySchemes"] == {
        "bearer": {
            "httpAuthSecurityScheme": {
                "scheme": "Bearer",
                "bearerFormat": "JWT",
                "description": "A JWT issued for this server (docs/a2a.md).",
            }
        }
    }
    assert body["securityRequirements"] == [{"schemes": {"bearer": {"list": []}}}]
    assert [skill["id"] for skill in body["skills"]] == ["coding-claude"]


async def test_etag_answers_304(client: Client) -> None:
    first = await client.get("/.well-known/agent-card.json")
    etag = first.headers["ETag"]
    again = await client.get("/.well-known/agent-card.json", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag


async def test_unknown_agent_card_is_404(client: Client) -> None:
    answer = await client.get("/a2a/nobody/.well-known/agent-card.json")
    assert answer.status == 404
    assert (await answer.json())["error"]["code"] == "agent_not_found"


async def test_public_base_url_and_oidc_from_config(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    config = agent_config(
        fake,
        a2a={"public_base_url": "https://agents.example.com/"},
        auth={"oidc": {**OIDC, "required_scopes": ["agents"]}},
    )
    client = await make_agent_client(config)
    body = await card(client, "/a2a/coding/.well-known/agent-card.json")
    assert body["supportedInterfaces"][0]["url"] == "https://agents.example.com/a2a/coding"
    assert body["securitySchemes"]["oidc"] == {
        "openIdConnectSecurityScheme": {
            "openIdConnectUrl": "https://idp.example.com/.well-known/openid-configuration"
        }
    }
    assert {"schemes": {"oidc": {"list": ["agents"]}}} in body["securityRequirements"]


async def test_legacy_agent_json_in_03_shape(client: Client) -> None:
    for path in ("/.well-known/agent.json", "/a2a/coding/.well-known/agent.json"):
        body = await card(client, path)
        assert body["url"].endswith("/a2a/coding")
        assert body["protocolVersion"] == "0.3.0"
        assert body["preferredTransport"] == "JSONRPC"
        assert body["securitySchemes"]["bearer"]["type"] == "http"
        assert body["security"] == [{"bearer": []}]
        assert "supportedInterfaces" not in body


async def test_cards_are_absent_when_a2a_is_off(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    client = await make_agent_client(agent_config(fake, a2a={"enabled": False}))
    assert (await client.get("/.well-known/agent-card.json")).status in (401, 404)
