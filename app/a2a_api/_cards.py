"""Agent cards: the server's at ``/.well-known/agent-card.json`` (its skills are the agents) and
each agent's at ``/a2a/<agent>/.well-known/agent-card.json``, in A2A 1.0's shape; the same at
``agent.json`` in 0.3's shape for clients that still read it. Public and cacheable: an ETag
(a digest of the card) answers ``If-None-Match`` with 304.

An agent's card advertises the authenticated extended card (1.0: ``capabilities.extendedAgentCard``;
0.3: ``supportsAuthenticatedExtendedCard``): ``GetExtendedAgentCard`` on the agent's endpoint
answers the same card to a caller who may use the agent, guarded or not. The server's card has
no extended card (no endpoint of its own answers one), so it advertises none.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from aiohttp import web

from app.config import AgentSettings, AppConfig, deployed_version

from ._wire import V1, dumps

SERVER_NAME: Final = "agentsmcp"
A2A_PREFIX: Final = "/a2a"
CARD_PATH: Final = "/.well-known/agent-card.json"
LEGACY_CARD_PATH: Final = "/.well-known/agent.json"
CACHE_CONTROL: Final = "public, max-age=300"
TEXT_MODES: Final = ("text/plain",)
V03_CARD_VERSION: Final = "0.3.0"


def agent_url(base: str, agent: str) -> str:
    return f"{base}{A2A_PREFIX}/{agent}"


class Cards:
    """The cards of one configuration; only the base URL varies between requests."""

    def __init__(self, config: AppConfig) -> None:
        self._agents = dict(config.agents)
        self._base_url = config.a2a.public_base_url
        self._version = deployed_version()
        self._auth = config.auth.enabled
        oidc = config.auth.oidc
        self._oidc_url = (
            None if oidc is None else f"{oidc.issuer.rstrip('/')}/.well-known/openid-configuration"
        )
        self._oidc_scopes = [] if oidc is None else list(oidc.required_scopes)

    def base_url(self, request: web.Request) -> str:
        return self._base_url or f"{request.scheme}://{request.host}"

    def server(self, base: str, names: tuple[str, ...]) -> dict[str, Any]:
        """The server's card; ``names``: the agents it lists (those the caller may use)."""
        return {
            "name": SERVER_NAME,
            "description": "Every agent of this agentsmcp server; each has its own card at"
            f" {A2A_PREFIX}/<agent>{CARD_PATH}.",
            "supportedInterfaces": [self._interface(base, name) for name in names],
            **self._common(extended=False),
            "skills": [self._skill(name, self._agents[name]) for name in names],
        }

    def agent(self, base: str, name: str) -> dict[str, Any]:
        settings = self._agents[name]
        return {
            "name": name,
            "description": settings.description or f"The agent {name}.",
            "supportedInterfaces": [self._interface(base, name)],
            **self._common(extended=True),
            "skills": [self._skill(name, settings)],
        }

    def legacy(self, base: str, name: str | None, names: tuple[str, ...]) -> dict[str, Any]:
        """The 0.3 card (``agent.json``): a top-level ``url`` and 0.3's security shapes;
        ``name`` None: the server's, listing ``names``."""
        card = self.server(base, names) if name is None else self.agent(base, name)
        target = name or next(iter(names), "")
        schemes = {
            scheme: _legacy_scheme(value) for scheme, value in card["securitySchemes"].items()
        }
        security = [req["schemes"] for req in card["securityRequirements"]]
        legacy = {
            key: value
            for key, value in card.items()
            if key not in ("supportedInterfaces", "securitySchemes", "securityRequirements")
        }
        capabilities = dict(card["capabilities"])
        extended = capabilities.pop("extendedAgentCard")
        return {
            **legacy,
            "capabilities": capabilities,
            "supportsAuthenticatedExtendedCard": extended,
            "url": agent_url(base, target),
            "protocolVersion": V03_CARD_VERSION,
            "preferredTransport": "JSONRPC",
            "securitySchemes": schemes,
            "security": [{k: v["list"] for k, v in req.items()} for req in security],
        }

    def _interface(self, base: str, name: str) -> dict[str, Any]:
        return {
            "url": agent_url(base, name),
            "protocolBinding": "JSONRPC",
            "protocolVersion": V1,
        }

    def _common(self, *, extended: bool) -> dict[str, Any]:
        schemes: dict[str, Any] = {}
        requirements: list[dict[str, Any]] = []
        if self._auth:
            schemes["bearer"] = {
                "httpAuthSecurityScheme": {
                    "scheme": "Bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT issued for this server (docs/a2a.md).",
                }
            }
            requirements.append({"schemes": {"bearer": {"list": []}}})
            if self._oidc_url is not None:
                schemes["oidc"] = {
                    "openIdConnectSecurityScheme": {"openIdConnectUrl": self._oidc_url}
                }
                requirements.append({"schemes": {"oidc": {"list": self._oidc_scopes}}})
        return {
            "provider": {"organization": SERVER_NAME, "url": "https://github.com/agentsmcp"},
            "version": self._version,
            "capabilities": {
                "streaming": True,
                "pushNotifications": False,
                "extendedAgentCard": extended,
            },
            "securitySchemes": schemes,
            "securityRequirements": requirements,
            "defaultInputModes": list(TEXT_MODES),
            "defaultOutputModes": list(TEXT_MODES),
        }

    def _skill(self, name: str, settings: AgentSettings) -> dict[str, Any]:
        return {
            "id": name,
            "name": name,
            "description": settings.description or f"The agent {name}.",
            "tags": [settings.type],
        }


def _legacy_scheme(scheme: dict[str, Any]) -> dict[str, Any]:
    if "httpAuthSecurityScheme" in scheme:
        http = scheme["httpAuthSecurityScheme"]
        return {"type": "http", "scheme": "bearer", "bearerFormat": http["bearerFormat"]}
    return {
        "type": "openIdConnect",
        "openIdConnectUrl": scheme["openIdConnectSecurityScheme"]["openIdConnectUrl"],
    }


def card_response(request: web.Request, card: dict[str, Any]) -> web.Response:
    body = dumps(card).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)
