"""Tokens from a real OpenID provider (tests/oidc: oidc-provider on 127.0.0.1) against the real
app factory served on loopback: client-credentials JWT access tokens for our canonical URL, RS256
and ES256, verified through the provider's discovery document and JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.config import AppConfig
from tests.app.conftest import ClientFactory, bearer, make_config, make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config
from tests.oidc import (
    ES256_CLIENT,
    RS256_CLIENT,
    SHORT_LIVED_CLIENT,
    OidcProvider,
    mcp_sdk_client_credentials,
    mcp_sdk_oauth_session,
)

pytestmark = pytest.mark.slow

RESOURCE = "https://agents.example.com/mcp"
METADATA_URL = "https://agents.example.com/.well-known/oauth-protected-resource/mcp"
SCOPE = "agents:invoke"
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_HEADERS = {
    "MCP-Protocol-Version": "2025-11-25",
    "Accept": "application/json, text/event-stream",
}
# Protected routes the tokens are tried on, with the body each needs (/mcp: a JSON-RPC message).
PROTECTED_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/agents", None),
    ("POST", "/mcp", MCP_LIST),
]

Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One provider for the tests that neither stop it nor rotate its keys."""
    started = OidcProvider(tmp_path_factory.mktemp("oidc")).start()
    yield started
    started.stop()


@pytest.fixture
def own_provider(tmp_path: Path) -> Iterator[OidcProvider]:
    """A provider of this test alone: it may be stopped or rotate its keys."""
    started = OidcProvider(tmp_path).start()
    yield started
    started.stop()


def oidc_config(issuer: str, *, discovery: bool = False, **oidc: Any) -> AppConfig:
    settings = {"issuer": issuer, "audience": RESOURCE, "required_scopes": [SCOPE], **oidc}
    leeway = settings.pop("leeway_seconds", 10)
    return make_config(
        auth={
            "oidc": settings,
            "oauth_discovery": {"enabled": discovery},
            "leeway_seconds": leeway,
        }
    )


async def get(client: Client, path: str, token: str | None = None) -> tuple[int, Any, Any]:
    headers = bearer(token) if token is not None else {}
    response = await client.get(path, headers=headers)
    return response.status, response.headers, await response.json()


async def send(
    client: Client, method: str, path: str, body: dict[str, Any] | None, token: str
) -> tuple[int, Any, Any]:
    headers = {**bearer(token), **(MCP_HEADERS if path == "/mcp" else {})}
    response = await client.request(method, path, headers=headers, json=body)
    return response.status, response.headers, await response.json()


def error_code(path: str, body: Any) -> str:
    """The API error code of a refusal; /mcp answers a JSON-RPC error carrying it in ``data``."""
    if path == "/mcp":
        assert body["jsonrpc"] == "2.0"
        assert body["id"] is None
        assert body["error"]["code"] == -32000
        return str(body["error"]["data"]["code"])
    return str(body["error"]["code"])


async def key_fetches(client: Client, outcome: str) -> float:
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith(f'agentsmcp_oidc_key_fetches_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED_ROUTES)
@pytest.mark.parametrize("client_id", [RS256_CLIENT, ES256_CLIENT], ids=["RS256", "ES256"])
async def test_provider_token_reaches_protected_routes(
    make_client: ClientFactory,
    provider: OidcProvider,
    client_id: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    token = await provider.token(resource=RESOURCE, scope=SCOPE, client_id=client_id)
    client = await make_client(oidc_config(provider.issuer))
    status, _, answer = await send(client, method, path, body, token)
    assert status == 200, answer
    if path == "/mcp":
        assert "tools" in answer["result"], answer


@pytest.mark.parametrize("client_id", [RS256_CLIENT, ES256_CLIENT])
async def test_provider_signs_with_the_expected_algorithm_and_sub_is_the_subject(
    make_client: ClientFactory, provider: OidcProvider, client_id: str
) -> None:
    token = await provider.token(resource=RESOURCE, scope=SCOPE, client_id=client_id)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == ("ES256" if client_id == ES256_CLIENT else "RS256")
    assert header["typ"] == "at+jwt"
    client = await make_client(oidc_config(provider.issuer))
    status, _, body = await get(client, "/test/whoami", token)
    assert (status, body) == (200, {"subject": client_id})


async def test_token_for_another_resource_is_401(
    make_client: ClientFactory, provider: OidcProvider
) -> None:
    token = await provider.token(resource="https://other.example.com/mcp", scope=SCOPE)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] != RESOURCE
    client = await make_client(oidc_config(provider.issuer))
    for method, path, request_body in PROTECTED_ROUTES:
        status, headers, body = await send(client, method, path, request_body, token)
        assert status == 401
        assert (
            'error="invalid_token", error_description="wrong audience"'
            in (headers["WWW-Authenticate"])
        )
        assert error_code(path, body) == "invalid_token"


async def test_expired_token_is_401(make_client: ClientFactory, provider: OidcProvider) -> None:
    response = await provider.token_response(
        resource=RESOURCE, scope=SCOPE, client_id=SHORT_LIVED_CLIENT
    )
    assert response["expires_in"] == 1
    token = response["access_token"]
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    client = await make_client(oidc_config(provider.issuer, leeway_seconds=0))
    await asyncio.sleep(max(0.0, expires + 1.1 - time.time()))
    status, headers, body = await get(client, "/v1/models", token)
    assert status == 401
    assert 'error_description="token has expired"' in headers["WWW-Authenticate"]
    assert body["error"]["message"] == "Invalid bearer token: token has expired."


@pytest.mark.parametrize("discovery", [False, True], ids=["discovery-off", "discovery-on"])
async def test_missing_scope_is_403_insufficient_scope(
    make_client: ClientFactory, provider: OidcProvider, discovery: bool
) -> None:
    token = await provider.token(resource=RESOURCE, scope="agents:read")
    assert jwt.decode(token, options={"verify_signature": False})["scope"] == "agents:read"
    client = await make_client(oidc_config(provider.issuer, discovery=discovery))
    message = "The token lacks a required scope; this server needs: agents:invoke."
    for method, path, request_body in PROTECTED_ROUTES:
        status, headers, body = await send(client, method, path, request_body, token)
        assert status == 403
        expected = (
            'Bearer realm="agentsmcp", error="insufficient_scope",'
            ' error_description="the token lacks a required scope", scope="agents:invoke"'
        )
        if discovery:
            expected += f', resource_metadata="{METADATA_URL}"'
        assert headers["WWW-Authenticate"] == expected
        if path == "/mcp":
            assert body == {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": -32000,
                    "message": message,
                    "data": {"type": "permission_error", "code": "insufficient_scope"},
                },
            }
        else:
            assert body == {
                "error": {
                    "message": message,
                    "type": "permission_error",
                    "code": "insufficient_scope",
                }
            }


async def test_every_required_scope_is_needed(
    make_client: ClientFactory, provider: OidcProvider
) -> None:
    both = await provider.token(resource=RESOURCE, scope="agents:invoke agents:read")
    one = await provider.token(resource=RESOURCE, scope="agents:invoke")
    config = oidc_config(provider.issuer, required_scopes=["agents:invoke", "agents:read"])
    client = await make_client(config)
    assert (await get(client, "/v1/models", both))[0] == 200
    status, headers, _ = await get(client, "/v1/models", one)
    assert status == 403
    assert 'scope="agents:invoke agents:read"' in headers["WWW-Authenticate"]


async def test_hs256_tokens_still_work_beside_the_provider(
    make_client: ClientFactory, provider: OidcProvider
) -> None:
    client = await make_client(oidc_config(provider.issuer))
    # This server's own tokens carry no scopes and keep full access, as before.
    status, _, body = await get(client, "/test/whoami", make_token("operator"))
    assert (status, body) == (200, {"subject": "operator"})
    status, headers, _ = await get(client, "/v1/models", make_token(secret="x" * 40))
    assert status == 401
    assert 'error_description="bad signature"' in headers["WWW-Authenticate"]


async def test_hs256_token_signed_with_the_providers_public_key_is_refused(
    make_client: ClientFactory, provider: OidcProvider
) -> None:
    """Algorithm confusion: an HS256 token keyed with the provider's public RSA key."""
    async with aiohttp.ClientSession() as session, session.get(f"{provider.issuer}/jwks") as jwks:
        keys = (await jwks.json())["keys"]
    public_key = jwt.PyJWK(next(key for key in keys if key["kty"] == "RSA")).key
    public_pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": RESOURCE, "sub": "mallory", "exp": now + 60}
    client = await make_client(oidc_config(provider.issuer))
    status, headers, _ = await get(client, "/v1/models", _hmac_token(claims, public_pem))
    assert status == 401
    assert 'error_description="bad signature"' in headers["WWW-Authenticate"]


def _hmac_token(claims: dict[str, Any], key: bytes) -> str:
    # PyJWT refuses to HMAC with a PEM key, so the forgery is built by hand.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


async def test_token_of_another_provider_is_401(
    make_client: ClientFactory, provider: OidcProvider, own_provider: OidcProvider
) -> None:
    """Same audience and scope, but issued (and signed) by a provider we do not trust."""
    token = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    client = await make_client(oidc_config(provider.issuer))
    status, headers, _ = await get(client, "/v1/models", token)
    assert status == 401
    assert 'error_description="unknown signing key"' in headers["WWW-Authenticate"]


async def test_key_rotation_is_picked_up_by_one_refetch(
    make_client: ClientFactory, own_provider: OidcProvider
) -> None:
    client = await make_client(oidc_config(own_provider.issuer, jwks_refetch_interval_seconds=0))
    before = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    # Signed with the old key too, but never verified (not in the verified-token cache).
    unseen = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    assert (await get(client, "/v1/models", before))[0] == 200
    assert await key_fetches(client, "ok") == 1

    own_provider.restart(rotate=True)
    after = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert (await get(client, "/v1/models", after))[0] == 200
    assert await key_fetches(client, "ok") == 2
    # The old key is still published during the rotation: tokens signed with it stay valid.
    assert jwt.get_unverified_header(unseen)["kid"] == jwt.get_unverified_header(before)["kid"]
    assert (await get(client, "/v1/agents", unseen))[0] == 200
    assert await key_fetches(client, "ok") == 2


async def test_unknown_kid_refetches_are_rate_limited(
    make_client: ClientFactory, own_provider: OidcProvider
) -> None:
    client = await make_client(oidc_config(own_provider.issuer, jwks_refetch_interval_seconds=3600))
    before = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    assert (await get(client, "/v1/models", before))[0] == 200
    own_provider.restart(rotate=True)
    after = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    for _ in range(5):
        status, headers, _ = await get(client, "/v1/models", after)
        assert status == 401
        assert 'error_description="unknown signing key"' in headers["WWW-Authenticate"]
    assert await key_fetches(client, "ok") == 1


async def test_provider_down_before_first_fetch_is_a_clear_503_and_the_server_stays_ready(
    make_client: ClientFactory, own_provider: OidcProvider
) -> None:
    token = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    own_provider.stop()
    client = await make_client(oidc_config(own_provider.issuer))
    for _ in range(3):
        status, headers, body = await get(client, "/v1/models", token)
        assert status == 503
        assert headers["Retry-After"] == "1"
        assert body["error"]["code"] == "identity_provider_unavailable"
        assert "identity provider" in body["error"]["message"]
    assert (await client.get("/health/ready")).status == 200
    # HS256 tokens do not depend on the provider.
    assert (await get(client, "/v1/models", make_token()))[0] == 200
    assert await key_fetches(client, "error") >= 1

    own_provider.start()  # same port, same keys: the server recovers by itself
    await asyncio.sleep(1.1)
    assert (await get(client, "/v1/models", token))[0] == 200


async def test_known_keys_outlive_a_provider_outage_until_max_stale(
    make_client: ClientFactory, own_provider: OidcProvider
) -> None:
    tokens = [await own_provider.token(resource=RESOURCE, scope=SCOPE) for _ in range(3)]
    stale_ok = await make_client(
        oidc_config(own_provider.issuer, jwks_cache_seconds=1, jwks_max_stale_seconds=3600)
    )
    no_stale = await make_client(
        oidc_config(own_provider.issuer, jwks_cache_seconds=1, jwks_max_stale_seconds=0)
    )
    assert (await get(stale_ok, "/v1/models", tokens[0]))[0] == 200
    assert (await get(no_stale, "/v1/models", tokens[0]))[0] == 200
    own_provider.stop()
    await asyncio.sleep(1.2)
    # Fresh tokens (not in the verified-token cache) signed with a known key.
    assert (await get(stale_ok, "/v1/models", tokens[1]))[0] == 200
    status, _, body = await get(no_stale, "/v1/models", tokens[2])
    assert status == 503
    assert body["error"]["code"] == "identity_provider_unavailable"
    assert (await no_stale.get("/health/ready")).status == 200


async def test_server_starts_without_the_provider(make_client: ClientFactory) -> None:
    client = await make_client(oidc_config("http://127.0.0.1:9"))
    assert (await client.get("/health/ready")).status == 200


async def test_jwks_uri_setting_skips_discovery(
    make_client: ClientFactory, provider: OidcProvider
) -> None:
    token = await provider.token(resource=RESOURCE, scope=SCOPE)
    # A wrong issuer path for discovery, but the keys come straight from jwks_uri.
    config = oidc_config(provider.issuer, jwks_uri=f"{provider.issuer}/jwks")
    client = await make_client(config)
    assert (await get(client, "/v1/models", token))[0] == 200


@pytest.mark.parametrize(
    ("issuer_suffix", "jwks_path", "reason"),
    [
        ("/", None, "the discovery document names issuer"),
        ("", "/.well-known/openid-configuration", "the JWKS is not an object with a keys array"),
        ("", "/no-such-path", "HTTP 404"),
    ],
    ids=["issuer-mismatch", "not-a-jwks", "jwks-404"],
)
async def test_unusable_provider_documents_are_a_503_and_a_log_line(
    make_client: ClientFactory,
    provider: OidcProvider,
    capsys: pytest.CaptureFixture[str],
    issuer_suffix: str,
    jwks_path: str | None,
    reason: str,
) -> None:
    token = await provider.token(resource=RESOURCE, scope=SCOPE)
    extra = {"jwks_uri": provider.issuer + jwks_path} if jwks_path else {}
    client = await make_client(oidc_config(provider.issuer + issuer_suffix, **extra))
    status, _, body = await get(client, "/v1/models", token)
    assert status == 503
    assert body["error"]["code"] == "identity_provider_unavailable"
    assert reason in capsys.readouterr().out
    assert (await client.get("/health/ready")).status == 200


async def test_concurrent_first_requests_share_one_key_fetch(
    make_client: ClientFactory, provider: OidcProvider
) -> None:
    tokens = [await provider.token(resource=RESOURCE, scope=SCOPE) for _ in range(20)]
    client = await make_client(oidc_config(provider.issuer))
    results = await asyncio.gather(*(get(client, "/v1/models", token) for token in tokens))
    assert [status for status, _, _ in results] == [200] * 20
    assert await key_fetches(client, "ok") == 1
    assert await key_fetches(client, "error") == 0


async def test_a_hanging_provider_costs_at_most_the_http_timeout(
    make_client: ClientFactory, own_provider: OidcProvider
) -> None:
    token = await own_provider.token(resource=RESOURCE, scope=SCOPE)
    own_provider.pause()
    try:
        client = await make_client(oidc_config(own_provider.issuer, http_timeout_seconds=0.5))
        started = time.monotonic()
        status, _, body = await get(client, "/v1/models", token)
        elapsed = time.monotonic() - started
        assert status == 503
        assert body["error"]["code"] == "identity_provider_unavailable"
        # Bounded by the configured timeout (the startup fetch may have spent part of it).
        assert elapsed < 3
        assert (await client.get("/health/live")).status == 200
    finally:
        own_provider.resume()


@pytest.mark.parametrize("client_scope", [SCOPE, ""], ids=["scope", "no-scope"])
async def test_the_official_mcp_sdk_discovers_the_provider_and_its_token_is_accepted(
    aiohttp_server: Any, provider: OidcProvider, unused_tcp_port: int, client_scope: str
) -> None:
    """The MCP TypeScript SDK's OAuth client: it reads our 401, finds the provider through our
    RFC 9728 metadata, gets a client-credentials token for our resource from the provider, and
    the server accepts it, or answers 403 insufficient_scope when the client asked for no scope.
    The canonical URL must be the address the client uses (the SDK checks the metadata's
    resource against it)."""
    from app.server import create_app

    base = f"http://127.0.0.1:{unused_tcp_port}"
    config = make_config(
        auth={
            "oidc": {
                "issuer": provider.issuer,
                "audience": f"{base}/mcp",
                "required_scopes": [SCOPE],
            },
            "oauth_discovery": {"enabled": True},
        }
    )
    await aiohttp_server(create_app(config), host="127.0.0.1", port=unused_tcp_port)
    seen = await mcp_sdk_client_credentials(
        f"{base}/mcp", f"{base}/v1/models", provider.issuer, scope=client_scope
    )
    metadata_url = f"{base}/.well-known/oauth-protected-resource/mcp"
    assert seen.pop("challengeStatus") == 401
    assert seen.pop("resourceMetadataUrl") == metadata_url
    assert seen.pop("scope") == SCOPE
    assert seen.pop("result") == "AUTHORIZED"
    assert seen.pop("audience") == f"{base}/mcp"
    if client_scope:
        assert seen == {"tokenScope": SCOPE, "retriedStatus": 200, "retriedChallenge": None}
    else:
        assert seen == {
            "retriedStatus": 403,
            "retriedChallenge": 'Bearer realm="agentsmcp", error="insufficient_scope",'
            ' error_description="the token lacks a required scope", scope="agents:invoke",'
            f' resource_metadata="{metadata_url}"',
        }


async def test_token_of_another_issuer_signed_with_a_known_key_is_401(
    make_client: ClientFactory, provider: OidcProvider, tmp_path: Path
) -> None:
    """A second provider with the same keys but its own issuer URL: the signature verifies, the
    iss claim does not match."""
    shutil.copy(provider.keys_file, tmp_path / provider.keys_file.name)
    impostor = OidcProvider(tmp_path).start()
    try:
        token = await impostor.token(resource=RESOURCE, scope=SCOPE)
    finally:
        impostor.stop()
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == impostor.issuer
    assert impostor.issuer != provider.issuer
    client = await make_client(oidc_config(provider.issuer))
    status, headers, _ = await get(client, "/v1/models", token)
    assert status == 401
    assert 'error_description="wrong issuer"' in headers["WWW-Authenticate"]


async def test_the_official_mcp_sdk_client_authorizes_itself_and_uses_mcp(
    aiohttp_server: Any, provider: OidcProvider, unused_tcp_port: int, fake: FakeServer
) -> None:
    """End to end on /mcp: the TypeScript SDK's ``Client`` + ``StreamableHTTPClientTransport``
    with a ``ClientCredentialsProvider`` and no token. Its first POST gets our 401 challenge; it
    follows our RFC 9728 metadata to the real provider, gets a client-credentials token for our
    resource, retries, lists the tools and calls the agent. Tokens for another audience or
    without the scope are refused (401 / 403) with JSON-RPC error bodies."""
    from app.server import create_app

    base = f"http://127.0.0.1:{unused_tcp_port}"
    resource = f"{base}/mcp"
    auth = {
        "oidc": {"issuer": provider.issuer, "audience": resource, "required_scopes": [SCOPE]},
        "oauth_discovery": {"enabled": True},
    }
    await aiohttp_server(
        create_app(agent_config(fake, auth=auth)), host="127.0.0.1", port=unused_tcp_port
    )
    plan = {
        "url": resource,
        "issuer": provider.issuer,
        "scope": SCOPE,
        "tool": "coding",
        "arguments": {"task": "Say hello."},
        "badTokens": {
            "wrong_audience": await provider.token(
                resource="https://other.example.com/mcp", scope=SCOPE
            ),
            "missing_scope": await provider.token(resource=resource, scope="agents:read"),
        },
    }
    report = await mcp_sdk_oauth_session(plan)
    assert "error" not in report, report
    metadata_url = f"{base}/.well-known/oauth-protected-resource/mcp"

    exchanges = report["exchanges"]
    first = exchanges[0]
    assert (first["method"], first["url"], first["rpcMethod"]) == ("POST", resource, "initialize")
    assert first["authorization"] is None
    assert first["status"] == 401
    assert first["wwwAuthenticate"] == (
        f'Bearer realm="agentsmcp", scope="{SCOPE}", resource_metadata="{metadata_url}"'
    )
    assert json.loads(first["body"])["error"]["data"]["code"] == "missing_token"
    urls = [exchange["url"] for exchange in exchanges]
    # Discovery: our metadata, then the provider's, then its token endpoint.
    assert urls[1] == metadata_url
    assert any(url.startswith(provider.issuer) and "token" in url for url in urls), urls
    assert report["token"] == {"audience": resource, "scope": SCOPE, "issuer": provider.issuer}
    served = [e for e in exchanges if e["url"] == resource and e["authorization"] == "Bearer"]
    assert served[0]["rpcMethod"] == "initialize"
    assert served[0]["status"] == 200
    assert {e["rpcMethod"] for e in served} >= {"initialize", "tools/list", "tools/call"}
    assert all(e["status"] in (200, 202, 405) for e in served), served

    assert report["server_info"]["name"] == "agentsmcp"
    assert "coding" in report["tools"]
    assert report["call"]["is_error"] is False
    assert report["call"]["structured"]["output"] == "Hello, world!"

    bad = report["bad"]
    for name, status, code, rpc_code in (
        ("wrong_audience", 401, "invalid_token", -32000),
        ("missing_scope", 403, "insufficient_scope", -32000),
    ):
        outcome = bad[name]
        assert outcome["connected"] is False, outcome
        assert outcome["errorCode"] == status, outcome
        (refused,) = [e for e in outcome["exchanges"] if e["url"] == resource]
        assert refused["status"] == status
        body = json.loads(refused["body"])
        assert body["jsonrpc"] == "2.0"
        assert body["id"] is None
        assert body["error"]["code"] == rpc_code
        assert body["error"]["data"]["code"] == code
        assert f'resource_metadata="{metadata_url}"' in refused["wwwAuthenticate"]
    assert (
        'error_description="wrong audience"'
        in (bad["wrong_audience"]["exchanges"][0]["wwwAuthenticate"])
    )
