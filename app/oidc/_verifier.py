"""Access tokens of an OpenID provider: signature (its JWKS), ``iss``, ``exp``, ``aud``, ``sub``."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Final

import jwt

from app.auth import (
    CACHE_SECONDS,
    CACHE_SIZE,
    Challenge,
    Principal,
    jwt_error,
    new_principal_cache,
    principal_from_claims,
    token_scopes,
)
from app.config import OidcSettings

from ._keys import JwksSource

# aiohttp refuses a header line over 8190 bytes, so a longer token never reaches this point.
MAX_TOKEN_LENGTH: Final = 8192


class OidcVerifier:
    """Verifies the provider's tokens; the keys come from :class:`JwksSource`."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        leeway_seconds: float,
        challenge: Challenge,
        override_claim: str | None = None,
        on_fetch: Callable[[bool], None] | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.settings = settings
        self.keys = JwksSource(settings, on_fetch=on_fetch)
        self._algorithms = frozenset(settings.algorithms)
        self._leeway = leeway_seconds
        self._challenge = challenge
        self._override_claim = override_claim
        self._cache = new_principal_cache(cache_size)

    def header_of(self, token: str) -> dict[str, Any] | None:
        """The unverified JOSE header when it names one of the provider's algorithms, else None
        (then the token is this server's own HS256 kind, or refused as such)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        return header if header.get("alg") in self._algorithms else None

    async def principal(self, token: str, header: dict[str, Any]) -> Principal:
        now = time.time()
        if len(token) > MAX_TOKEN_LENGTH:
            raise self._challenge.invalid_token("malformed token")
        # Keyed by digest: provider tokens can be several KiB, and the cache holds thousands.
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached[0]
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise self._challenge.invalid_token("malformed token")
        key = await self.keys.key(kid, header["alg"])
        if key is None:
            raise self._challenge.invalid_token("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                issuer=self.settings.issuer,
                audience=self.settings.audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise jwt_error(exc, self._challenge) from None
        principal = principal_from_claims(
            claims, self._challenge, self._override_claim, token_scopes(claims)
        )
        self._cache[cache_key] = (principal, min(float(claims["exp"]), now + CACHE_SECONDS))
        return principal

    def __len__(self) -> int:
        return len(self._cache)
