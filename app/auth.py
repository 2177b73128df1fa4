"""JWT bearer authentication: HS256 shared-secret tokens, ``exp``/``iss``/``aud``/``sub`` required.

Tokens from an OpenID provider (RS256, ES256, ... through its JWKS) are verified by app/oidc; both
build a :class:`Principal` here and answer failures with the :class:`Challenge` of the server.

Verified tokens are cached briefly (a ``cachetools.TLRUCache``: bounded, least recently used
evicted first, keyed by the raw token, each entry expiring at ``min(exp, now + 60 s)``) so the
hot path does not re-run HMAC and claim validation for every request of a busy client.

The verifier accepts every key its key source returns (the current one first, then the previous
one during a rotation); when the keys change, the cache is dropped so a retired key stops working
at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from cachetools import TLRUCache
from pydantic import ValidationError

from app.config import AuthSettings, LimitOverride
from app.contract import errors
from app.errors import AuthenticationError, PermissionDeniedError

ALGORITHM: Final = "HS256"
REALM: Final = "agentsmcp"
MAX_TOKEN_LENGTH: Final = 4096
CACHE_SIZE: Final = 10_000
CACHE_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class Challenge:
    """The ``WWW-Authenticate`` parameters of this server. Without OAuth discovery only the
    realm; with it, where the protected resource metadata is (RFC 9728) and the scopes needed."""

    resource_metadata: str | None = None
    scope: str | None = None

    def header(self, error: str | None = None, description: str | None = None) -> str:
        # Every value is chosen by the server (config or fixed strings), never token content.
        params = [f'realm="{REALM}"']
        if error is not None:
            params.append(f'error="{error}"')
        if description is not None:
            params.append(f'error_description="{description}"')
        if self.scope:
            params.append(f'scope="{self.scope}"')
        if self.resource_metadata is not None:
            params.append(f'resource_metadata="{self.resource_metadata}"')
        return "Bearer " + ", ".join(params)

    def invalid_token(self, description: str) -> AuthenticationError:
        return AuthenticationError(
            f"Invalid bearer token: {description}.",
            code=errors.INVALID_TOKEN,
            headers={"WWW-Authenticate": self.header("invalid_token", description)},
        )

    def missing_token(self) -> AuthenticationError:
        return AuthenticationError(
            MISSING_TOKEN_MESSAGE,
            code=errors.MISSING_TOKEN,
            headers={"WWW-Authenticate": self.header()},
        )

    def insufficient_scope(self, required: Iterable[str]) -> PermissionDeniedError:
        # RFC 6750 section 3.1: 403, naming every scope the request needs in one challenge.
        scopes = " ".join(required)
        challenge = Challenge(self.resource_metadata, scopes)
        return PermissionDeniedError(
            f"The token lacks a required scope; this server needs: {scopes}.",
            code=errors.INSUFFICIENT_SCOPE,
            headers={
                "WWW-Authenticate": challenge.header(
                    "insufficient_scope", "the token lacks a required scope"
                )
            },
        )


DEFAULT_CHALLENGE: Final = Challenge()

MISSING_TOKEN_MESSAGE = "A bearer token is required (Authorization: Bearer <JWT>)."  # noqa: S105 (a message, not a secret)


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    # Per-subject limits from the token's override claim (``rate_limit.override_claim``).
    limits: LimitOverride | None = None
    # The token's scopes; None for this server's own HS256 tokens, which carry no scopes.
    scopes: frozenset[str] | None = None
    issuer: str | None = None
    # Every verified claim, for the agents' access rules (never logged: repr leaves it out).
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def granted_scopes(self) -> frozenset[str]:
        """The scopes the token carries (``scope`` or ``scp``), for the access rules; unlike
        :attr:`scopes`, also those of HS256 tokens."""
        return self.scopes if self.scopes is not None else token_scopes(self.claims)

    def missing_scopes(self, required: Sequence[str]) -> list[str]:
        if self.scopes is None:
            return []
        return [scope for scope in required if scope not in self.scopes]


def bearer_token(authorization: str | None, challenge: Challenge) -> str:
    """The token of an ``Authorization: Bearer`` header, or raise a 401."""
    if not authorization:
        raise challenge.missing_token()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise challenge.missing_token()
    return token.strip()


def principal_from_claims(
    claims: Mapping[str, Any],
    challenge: Challenge,
    override_claim: str | None,
    scopes: frozenset[str] | None = None,
) -> Principal:
    """The principal of verified claims: ``sub`` and the optional limits claim."""
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise challenge.invalid_token("sub claim must be a non-empty string")
    limits = None
    if override_claim is not None and override_claim in claims:
        try:
            limits = LimitOverride.model_validate(claims[override_claim])
        except ValidationError:
            raise challenge.invalid_token("rate-limit claim is not a valid limits object") from None
    issuer = claims.get("iss")
    return Principal(
        subject, limits, scopes, issuer if isinstance(issuer, str) else None, dict(claims)
    )


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes of a token's claims: ``scope``, space-separated (RFC 9068 / RFC 8693), or
    ``scp``, a string or a list (Entra, Okta)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list):
            return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


# A fixed description per kind of PyJWT failure, checked in this order.
_JWT_ERROR_DESCRIPTIONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "token has expired"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
)


def jwt_error(exc: jwt.InvalidTokenError, challenge: Challenge) -> AuthenticationError:
    """The 401 for a PyJWT validation failure."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return challenge.invalid_token(f"missing {exc.claim} claim")
    description = next(
        (text for kind, text in _JWT_ERROR_DESCRIPTIONS if isinstance(exc, kind)),
        "malformed token",
    )
    return challenge.invalid_token(description)


PrincipalCache = TLRUCache[str, tuple[Principal, float]]


def new_principal_cache(size: int) -> PrincipalCache:
    """raw token -> (principal, wall-clock time after which the entry must not be used)."""
    return TLRUCache(maxsize=size, ttu=_valid_until, timer=_now)


class TokenVerifier:
    """Verifies bearer tokens against the configured secret, issuer and audience."""

    def __init__(
        self,
        settings: AuthSettings,
        secret: str | Callable[[], Sequence[str]],
        *,
        cache_size: int = CACHE_SIZE,
        cache_seconds: float = CACHE_SECONDS,
        override_claim: str | None = None,
        challenge: Challenge = DEFAULT_CHALLENGE,
    ) -> None:
        """``secret``: the key, or a callable returning the keys to accept, current first."""
        if isinstance(secret, str):
            fixed = (secret,)
            self._key_source: Callable[[], Sequence[str]] = lambda: fixed
        else:
            self._key_source = secret
        self._keys: tuple[str, ...] = tuple(self._key_source())
        self._override_claim = override_claim
        self._challenge = challenge
        self._issuer = settings.issuer
        self._audience = settings.audience
        self._leeway = settings.leeway_seconds
        self._cache_seconds = cache_seconds
        self._cache = new_principal_cache(cache_size)

    def verify(self, token: str) -> str:
        return self.principal(token).subject

    def principal(self, token: str) -> Principal:
        now = time.time()
        keys = tuple(self._key_source())
        if keys != self._keys:
            self._keys = keys
            self._cache.clear()
        cached = self._cache.get(token)
        if cached is not None:
            return cached[0]
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise self._challenge.invalid_token("malformed token")
        try:
            claims = self._decode(token, keys)
        except jwt.InvalidTokenError as exc:
            raise jwt_error(exc, self._challenge) from None
        principal = principal_from_claims(claims, self._challenge, self._override_claim)
        expires_at = float(claims["exp"])
        self._cache[token] = (principal, min(expires_at, now + self._cache_seconds))
        return principal

    def _decode(self, token: str, keys: tuple[str, ...]) -> dict[str, Any]:
        # PyJWT checks the signature before any claim, so a wrong key fails only as a signature.
        for key in keys[:-1]:
            try:
                return self._decode_with(token, key)
            except jwt.InvalidSignatureError:
                continue
        return self._decode_with(token, keys[-1] if keys else "")

    def _decode_with(self, token: str, key: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return claims

    def __len__(self) -> int:
        return len(self._cache)


def _now() -> float:
    return time.time()


def _valid_until(token: str, entry: tuple[Principal, float], now: float) -> float:
    return entry[1]
