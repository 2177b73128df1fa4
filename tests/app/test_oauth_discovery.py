"""RFC 9728 discovery (``auth.oauth_discovery``): the metadata documents, the 401 challenge, and
that nothing is advertised while the switch is off (some hosts then drop their own headers)."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import AppConfig, ConfigError, parse_config
from tests.app.conftest import SECRET, ClientFactory, bearer, make_config, make_token

# Nothing listens there: discovery needs no provider (server start never waits for it).
ISSUER = "http://127.0.0.1:9"
RESOURCE = "https://agents.example.com/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
ROOT_METADATA_PATH = "/.well-known/oauth-protected-resource"
METADATA_URL = "https://agents.example.com/.well-known/oauth-protected-resource/mcp"
# Protected routes the challenge is checked on, with the body each takes (/mcp: JSON-RPC).
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
PROTECTED_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/agents", None),
    ("POST", "/v1/chat/completions", None),
    ("POST", "/mcp", MCP_LIST),
]


def discovery_config(
    enabled: bool = True, *, audience: str = RESOURCE, **sections: Any
) -> AppConfig:
    auth = {
        "oidc": {"issuer": ISSUER, "audience": audience, "required_scopes": ["agents:invoke"]},
        "oauth_discovery": {"enabled": enabled},
    }
    return make_config(auth=auth, **sections)


@pytest.mark.parametrize("path", [METADATA_PATH, ROOT_METADATA_PATH])
async def test_metadata_documents_exact_content(make_client: ClientFactory, path: str) -> None:
    client = await make_client(discovery_config())
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert await response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["agents:invoke"],
        "bearer_methods_supported": ["header"],
    }


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED_ROUTES)
async def test_no_token_is_401_with_the_discovery_challenge(
    make_client: ClientFactory, method: str, path: str, body: dict[str, Any] | None
) -> None:
    client = await make_client(discovery_config())
    headers = {"Accept": "application/json, text/event-stream"} if path == "/mcp" else {}
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="agentsmcp", scope="agents:invoke", resource_metadata="{METADATA_URL}"'
    )
    answer = await response.json()
    if path == "/mcp":
        # A JSON-RPC error, as MCP clients expect, carrying the API's error code.
        assert answer["jsonrpc"] == "2.0"
        assert answer["id"] is None
        assert answer["error"]["code"] == -32000
        assert answer["error"]["data"]["code"] == "missing_token"
    else:
        assert answer["error"]["code"] == "missing_token"


async def test_invalid_token_challenge_names_the_metadata_too(make_client: ClientFactory) -> None:
    client = await make_client(discovery_config())
    response = await client.get("/v1/models", headers=bearer("a.b.c"))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="agentsmcp", error="invalid_token", error_description="malformed token",'
        f' scope="agents:invoke", resource_metadata="{METADATA_URL}"'
    )


async def test_metadata_url_ignores_the_host_header(make_client: ClientFactory) -> None:
    client = await make_client(discovery_config())
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    response = await client.get("/v1/models", headers=headers)
    assert f'resource_metadata="{METADATA_URL}"' in response.headers["WWW-Authenticate"]
    document = await (await client.get(METADATA_PATH, headers=headers)).json()
    assert document["resource"] == RESOURCE


async def test_hs256_tokens_work_with_discovery_on(make_client: ClientFactory) -> None:
    client = await make_client(discovery_config())
    response = await client.get("/test/whoami", headers=bearer(make_token("operator")))
    assert (response.status, await response.json()) == (200, {"subject": "operator"})


@pytest.mark.parametrize(
    "config",
    [
        discovery_config(enabled=False),
        make_config(),
    ],
    ids=["oidc-without-discovery", "no-oidc"],
)
async def test_discovery_off_paths_are_404_and_the_challenge_is_the_bare_realm(
    make_client: ClientFactory, config: AppConfig
) -> None:
    client = await make_client(config)
    for path in (METADATA_PATH, ROOT_METADATA_PATH):
        response = await client.get(path)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
        assert "WWW-Authenticate" not in response.headers
    response = await client.get("/v1/models")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="agentsmcp"'


async def test_canonical_url_at_the_root_has_only_the_root_document(
    make_client: ClientFactory,
) -> None:
    client = await make_client(discovery_config(audience="https://agents.example.com"))
    assert (await client.get(ROOT_METADATA_PATH)).status == 200
    assert (await client.get(METADATA_PATH)).status == 404
    response = await client.get("/v1/models")
    assert (
        'resource_metadata="https://agents.example.com/.well-known/oauth-protected-resource"'
        in response.headers["WWW-Authenticate"]
    )


async def test_metadata_is_never_rate_limited(make_client: ClientFactory) -> None:
    limits = {"requests_per_minute": 1, "burst": 1}
    client = await make_client(discovery_config(rate_limit=limits))
    statuses = [(await client.get(METADATA_PATH)).status for _ in range(10)]
    assert statuses == [200] * 10
    # The same config does limit another public path, so the limiter is on.
    statuses = [(await client.get("/openapi.json")).status for _ in range(3)]
    assert 429 in statuses


@pytest.mark.parametrize("cors_origins", [[], ["https://app.example.com"]])
async def test_browser_clients_may_read_the_metadata_from_any_origin(
    make_client: ClientFactory, cors_origins: list[str]
) -> None:
    client = await make_client(discovery_config(server={"cors_origins": cors_origins}))
    preflight = await client.options(
        METADATA_PATH,
        headers={
            "Origin": "http://localhost:6274",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "mcp-protocol-version",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "MCP-Protocol-Version" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.get(METADATA_PATH, headers={"Origin": "http://localhost:6274"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_exposes_www_authenticate(make_client: ClientFactory) -> None:
    origin = "https://app.example.com"
    client = await make_client(discovery_config(server={"cors_origins": [origin]}))
    response = await client.get("/v1/models", headers={"Origin": origin})
    assert response.status == 401
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "www-authenticate" in exposed


def test_discovery_needs_a_provider() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"jwt_secret_key": SECRET, "auth": {"oauth_discovery": {"enabled": True}}})
    assert error.value.problems == [
        "auth.oauth_discovery.enabled: needs auth.oidc (the provider to advertise)"
    ]


@pytest.mark.parametrize(
    ("oidc", "problem"),
    [
        (
            {"issuer": "http://idp.example.com", "audience": RESOURCE},
            "auth.oidc.issuer: 'http://idp.example.com' must use https (http only for localhost)",
        ),
        (
            {"issuer": ISSUER, "audience": RESOURCE + "/"},
            "auth.oidc.audience: 'https://agents.example.com/mcp/': the canonical URL has no"
            " trailing slash",
        ),
        (
            {"issuer": ISSUER, "audience": "agents-api"},
            "auth.oidc.audience: 'agents-api' is not an absolute URL like https://idp.example.com",
        ),
        (
            {"issuer": ISSUER, "audience": RESOURCE + "?x=1"},
            "auth.oidc.audience: 'https://agents.example.com/mcp?x=1' must not have a query,"
            " fragment or credentials",
        ),
        (
            {"issuer": ISSUER, "audience": 'https://agents.example.com/m"cp'},
            "auth.oidc.audience: 'https://agents.example.com/m\"cp' must be printable ASCII"
            " without spaces, quotes or backslashes",
        ),
        (
            {"issuer": ISSUER, "audience": RESOURCE, "algorithms": ["HS256"]},
            "auth.oidc.algorithms.0: Input should be 'RS256', 'RS384', 'RS512', 'PS256',"
            " 'PS384', 'PS512', 'ES256', 'ES384', 'ES512' or 'EdDSA'",
        ),
        (
            {"issuer": ISSUER, "audience": RESOURCE, "algorithms": []},
            "auth.oidc.algorithms: List should have at least 1 item after validation, not 0",
        ),
        (
            {"issuer": ISSUER, "audience": RESOURCE, "required_scopes": ['a"b']},
            "auth.oidc.required_scopes.0: String should match pattern"
            " '^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,128}$'",
        ),
    ],
    ids=[
        "http-issuer",
        "trailing-slash",
        "not-a-url",
        "query",
        "quote",
        "hs256",
        "no-alg",
        "bad-scope",
    ],
)
def test_oidc_settings_errors_name_the_key(oidc: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"jwt_secret_key": SECRET, "auth": {"oidc": oidc}})
    assert error.value.problems == [problem]
