"""Bearer tokens from an OpenID provider (``auth.oidc``), verified with the keys it publishes.

:class:`OidcVerifier` checks a token's signature against the provider's JWKS (found through
``<issuer>/.well-known/openid-configuration``, or ``auth.oidc.jwks_uri``) and its ``iss``,
``exp``, ``aud`` (this server's canonical URL) and ``sub``. :func:`oidc_ctx` gives it an HTTP
client while the app runs and fetches the keys in the background at startup: the server starts
and stays ready whether or not the provider answers; requests then get a 503 with a JSON error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from app import __version__
from app.app_keys import METRICS_KEY
from app.auth import Challenge
from app.config import AppConfig

from ._keys import IdentityProviderUnavailable
from ._verifier import OidcVerifier

__all__ = [
    "OIDC_VERIFIER_KEY",
    "IdentityProviderUnavailable",
    "OidcVerifier",
    "oidc_ctx",
    "setup_oidc",
]

OIDC_VERIFIER_KEY = web.AppKey("oidc_verifier", OidcVerifier)


def setup_oidc(app: web.Application, config: AppConfig, challenge: Challenge) -> None:
    """Install the verifier and its client when ``auth.oidc`` is configured."""
    settings = config.auth.oidc
    if not config.auth.enabled or settings is None:
        return
    metrics = app[METRICS_KEY]
    override_claim = config.rate_limit.override_claim if config.rate_limit.enabled else None
    app[OIDC_VERIFIER_KEY] = OidcVerifier(
        settings,
        leeway_seconds=config.auth.leeway_seconds,
        challenge=challenge,
        override_claim=override_claim,
        on_fetch=lambda ok: metrics.oidc_key_fetches_total.labels("ok" if ok else "error").inc(),
    )
    app.cleanup_ctx.append(oidc_ctx)


async def oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    verifier = app[OIDC_VERIFIER_KEY]
    async with aiohttp.ClientSession(headers={"User-Agent": f"agentsmcp/{__version__}"}) as session:
        verifier.keys.session = session
        warm_up = asyncio.create_task(verifier.keys.warm_up())
        try:
            yield
        finally:
            warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warm_up
            verifier.keys.session = None
