"""OAuth 2.0 Protected Resource Metadata (RFC 9728), switched by ``auth.oauth_discovery.enabled``.

When on, ``GET /.well-known/oauth-protected-resource<path of the canonical URL>`` (path-inserted,
e.g. ``/.well-known/oauth-protected-resource/mcp``) and the root
``/.well-known/oauth-protected-resource`` serve the metadata, and every 401 names it in
``WWW-Authenticate: Bearer resource_metadata="…", scope="…"``. Every URL is built from the
configured canonical URL (``auth.oidc.audience``), never from a request's Host header.

When off (the default) those paths answer 404 and the challenge is the bare realm: some MCP hosts
(Cursor) stop sending their configured Authorization header once a server advertises OAuth.
The paths are public either way (a 404 rather than a 401) and never rate limited.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from app.auth import DEFAULT_CHALLENGE, Challenge
from app.config import AppConfig, AuthSettings, OidcSettings
from app.contract.paths import WELL_KNOWN_PATH

# The document is public and carries no credentials: any origin may read it (browser clients
# such as the MCP Inspector fetch it cross-origin, some with an MCP-Protocol-Version header).
CORS_HEADERS: Final = {
    hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
    hdrs.ACCESS_CONTROL_ALLOW_METHODS: "GET, HEAD, OPTIONS",
    hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Authorization, Content-Type, MCP-Protocol-Version",
    hdrs.ACCESS_CONTROL_MAX_AGE: "600",
}
CACHE_CONTROL: Final = "public, max-age=300"


def metadata_paths(oidc: OidcSettings) -> tuple[str, ...]:
    """The path-inserted path for the canonical URL, then the root one (RFC 9728 section 3.1)."""
    resource_path = urlsplit(oidc.audience).path.rstrip("/")
    if not resource_path:
        return (WELL_KNOWN_PATH,)
    return (WELL_KNOWN_PATH + resource_path, WELL_KNOWN_PATH)


def metadata_url(oidc: OidcSettings) -> str:
    parts = urlsplit(oidc.audience)
    return urlunsplit((parts.scheme, parts.netloc, metadata_paths(oidc)[0], "", ""))


def metadata_document(oidc: OidcSettings) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resource": oidc.audience,
        "authorization_servers": [oidc.issuer],
    }
    if oidc.required_scopes:
        document["scopes_supported"] = list(oidc.required_scopes)
    document["bearer_methods_supported"] = ["header"]
    return document


def challenge_for(auth: AuthSettings) -> Challenge:
    """The WWW-Authenticate parameters of the server's 401 and 403 answers."""
    if not auth.oauth_discovery.enabled or auth.oidc is None:
        return DEFAULT_CHALLENGE
    return Challenge(
        resource_metadata=metadata_url(auth.oidc),
        scope=" ".join(auth.oidc.required_scopes) or None,
    )


def served_oidc(config: AppConfig) -> OidcSettings | None:
    """The OpenID provider whose metadata is served, or None while discovery is off."""
    oidc = config.auth.oidc
    if not (config.auth.enabled and config.auth.oauth_discovery.enabled):
        return None
    return oidc


def metadata_view(oidc: OidcSettings) -> Handler:
    body = json.dumps(metadata_document(oidc)).encode()

    async def protected_resource_metadata(request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            content_type="application/json",
            headers={**CORS_HEADERS, hdrs.CACHE_CONTROL: CACHE_CONTROL},
        )

    return protected_resource_metadata


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS_HEADERS)
