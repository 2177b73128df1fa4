"""What the auth middleware keeps of a verified token for the access rules: the Principal
(subject, issuer, scopes, claims) on the request; the subject key as before."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.app_keys import PRINCIPAL_KEY, SUBJECT_KEY
from app.auth import Principal
from app.server import create_app
from tests.app.conftest import bearer, make_config, make_token


async def principal_view(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL_KEY]
    return web.json_response(
        {
            "subject": request[SUBJECT_KEY],
            "issuer": principal.issuer,
            "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
            "granted": sorted(principal.granted_scopes),
            "groups": principal.claims.get("groups"),
        }
    )


async def test_the_request_carries_the_tokens_principal(aiohttp_client: Any) -> None:
    app = create_app(make_config())
    app.router.add_get("/test/principal", principal_view)
    client = await aiohttp_client(app)
    token = make_token("bob", scope="a:read b:write", groups=["platform"])
    response = await client.get("/test/principal", headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {
        "subject": "bob",
        "issuer": "agentsmcp",
        # HS256 tokens keep scopes None (auth.oidc.required_scopes never applies to them) ...
        "scopes": None,
        # ... while the access rules read their scope claim.
        "granted": ["a:read", "b:write"],
        "groups": ["platform"],
    }


def test_claims_stay_out_of_the_repr() -> None:
    principal = Principal("bob", claims={"email": "bob@example.com"})
    assert "bob@example.com" not in repr(principal)
    assert Principal("bob", claims={"scp": ["x", 1]}).granted_scopes == frozenset({"x"})
