"""JWT bearer authentication: HS256 only, ``exp``/``iss``/``aud``/``sub`` required.

Verified tokens are cached briefly (a ``cachetools.TLRUCache``: bounded, least recently used
evicted first, keyed by the raw token, each entry expiring at ``min(exp, now + 60 s)``) so the
hot path does not re-run HMAC and claim validation for every request of a busy client.

The verifier accepts every key its key source returns (the current one first, then the previous
one during a rotation); when the keys change, the cache is dropped so a retired key stops working
at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import jwt
from cachetools import TLRUCache
from pydantic import ValidationError

from app.config import AuthSettings, LimitOverride
from app.errors import AuthenticationError

ALGORITHM: Final = "HS256"
REALM: Final = "agentsmcp"
MAX_TOKEN_LENGTH: Final = 4096
CACHE_SIZE: Final = 10_000
CACHE_SECONDS: Final = 60.0

_CHALLENGE = f'Bearer realm="{REALM}"'


def _invalid_token(description: str) -> AuthenticationError:
    # The description is a fixed string chosen here, never token content (header injection).
    return AuthenticationError(
        f"Invalid bearer token: {description}.",
        code="invalid_token",
        headers={
            "WWW-Authenticate": (
                f'{_CHALLENGE}, error="invalid_token", error_description="{description}"'
            )
        },
    )


MISSING_TOKEN_MESSAGE = "A bearer token is required (Authorization: Bearer <JWT>)."  # noqa: S105 (a message, not a secret)


def missing_token_error() -> AuthenticationError:
    return AuthenticationError(
        MISSING_TOKEN_MESSAGE, code="missing_token", headers={"WWW-Authenticate": _CHALLENGE}
    )


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    # Per-subject limits from the token's override claim (``rate_limit.override_claim``).
    limits: LimitOverride | None = None


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
    ) -> None:
        """``secret``: the key, or a callable returning the keys to accept, current first."""
        if isinstance(secret, str):
            fixed = (secret,)
            self._key_source: Callable[[], Sequence[str]] = lambda: fixed
        else:
            self._key_source = secret
        self._keys: tuple[str, ...] = tuple(self._key_source())
        self._override_claim = override_claim
        self._issuer = settings.issuer
        self._audience = settings.audience
        self._leeway = settings.leeway_seconds
        self._cache_seconds = cache_seconds
        # raw token -> (principal, wall-clock time after which the entry must not be used)
        self._cache: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=cache_size, ttu=_valid_until, timer=_now
        )

    def subject_from_header(self, authorization: str | None) -> str:
        """Return the subject of a valid ``Authorization: Bearer`` header or raise a 401."""
        return self.principal_from_header(authorization).subject

    def principal_from_header(self, authorization: str | None) -> Principal:
        """The principal of a valid ``Authorization: Bearer`` header, or raise a 401."""
        if not authorization:
            raise missing_token_error()
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise missing_token_error()
        return self.principal(token.strip())

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
            raise _invalid_token("malformed token")
        try:
            claims = self._decode(token, keys)
        except jwt.ExpiredSignatureError:
            raise _invalid_token("token has expired") from None
        except jwt.InvalidIssuerError:
            raise _invalid_token("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise _invalid_token("wrong audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid_token(f"missing {exc.claim} claim") from None
        except jwt.InvalidAlgorithmError:
            raise _invalid_token("algorithm not allowed") from None
        except jwt.InvalidSignatureError:
            raise _invalid_token("bad signature") from None
        except jwt.ImmatureSignatureError:
            raise _invalid_token("token not yet valid") from None
        except jwt.InvalidTokenError:
            raise _invalid_token("malformed token") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise _invalid_token("sub claim must be a non-empty string")
        limits = None
        if self._override_claim is not None and self._override_claim in claims:
            try:
                limits = LimitOverride.model_validate(claims[self._override_claim])
            except ValidationError:
                raise _invalid_token("rate-limit claim is not a valid limits object") from None
        principal = Principal(subject, limits)
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
