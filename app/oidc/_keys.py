"""The OpenID provider's signing keys: discovery, then its JWKS, fetched with aiohttp and cached.

One fetch at a time (a lock; waiters reuse its result). Keys are fresh for ``jwks_cache_seconds``
(a ``cachetools.TTLCache``); after that a failed refresh keeps the last keys in use for
``jwks_max_stale_seconds`` more, so a provider outage does not lock out tokens signed with keys
already known. A token with an unknown ``kid`` causes one refetch, at most once per
``jwks_refetch_interval_seconds`` (a stream of forged kids cannot hammer the provider). After a
failed fetch the error is answered from memory for ``RETRY_AFTER_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import structlog
from cachetools import TTLCache
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWTError

from app.config import OidcSettings
from app.contract import errors
from app.errors import ServiceUnavailableError

MAX_DOCUMENT_BYTES: Final = 512 * 1024
RETRY_AFTER_SECONDS: Final = 1.0
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
# The curve each EC algorithm needs (RFC 7518 section 3.4); RSA keys serve RS* and PS*.
_EC_CURVES: Final = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_ONLY: Final = "only"

logger = structlog.get_logger("agentsmcp.oidc")


class IdentityProviderUnavailable(ServiceUnavailableError):
    error = errors.IDENTITY_PROVIDER_UNAVAILABLE

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(math.ceil(RETRY_AFTER_SECONDS))})


class KeyFetchError(Exception):
    """Why the keys could not be fetched (for the log; never shown to clients)."""


@dataclass
class KeySet:
    keys: list[dict[str, Any]]
    fetched_at: float
    _parsed: dict[tuple[str, str], PyJWK] = field(default_factory=dict)

    def find(self, kid: str | None, alg: str) -> PyJWK | None:
        """The key for ``kid`` usable with ``alg``. Without a kid, the only such key, if any."""
        matches = [
            jwk for jwk in self.keys if (kid is None or jwk.get("kid") == kid) and _fits(jwk, alg)
        ]
        if len(matches) != 1:
            return None
        cache_key = (kid or _ONLY, alg)
        parsed = self._parsed.get(cache_key)
        if parsed is None:
            try:
                # Bound to alg: PyJWT then verifies with this algorithm and no other.
                parsed = PyJWK(matches[0], alg)
            except PyJWTError:
                return None
            self._parsed[cache_key] = parsed
        return parsed


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return False
    kty = jwk.get("kty")
    if alg in _EC_CURVES:
        return kty == "EC" and jwk.get("crv") == _EC_CURVES[alg]
    if alg == "EdDSA":
        return kty == "OKP"
    return kty == "RSA"


def parse_key_set(document: Any, fetched_at: float) -> KeySet:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFetchError("the JWKS is not an object with a keys array")
    try:
        # Refuses a set without one usable key; unusable members are skipped, as by PyJWT.
        PyJWKSet.from_dict(document)
    except PyJWTError as exc:
        raise KeyFetchError(f"the JWKS has no usable key ({exc})") from None
    keys = [jwk for jwk in document["keys"] if isinstance(jwk, dict) and jwk.get("kty") != "oct"]
    return KeySet(keys, fetched_at)


class JwksSource:
    """The provider's current signing keys. ``session`` is set while the app runs (oidc_ctx)."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        on_fetch: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._on_fetch = on_fetch
        self._fresh: TTLCache[str, KeySet] = TTLCache(
            maxsize=1, ttl=settings.jwks_cache_seconds, timer=clock
        )
        self._jwks_uri: TTLCache[str, str] = TTLCache(
            maxsize=1, ttl=settings.jwks_cache_seconds, timer=clock
        )
        self._refetch_interval = settings.jwks_refetch_interval_seconds
        self._last: KeySet | None = None
        self._last_attempt = -math.inf
        self._failed_at = -math.inf
        self._lock = asyncio.Lock()
        self.session: aiohttp.ClientSession | None = None

    async def key(self, kid: str | None, alg: str) -> PyJWK | None:
        """The key to verify a token of ``kid``/``alg`` with; None if the provider has none.

        Raises :class:`IdentityProviderUnavailable` when no usable key set can be had."""
        keys = await self.current()
        found = keys.find(kid, alg)
        if found is None and kid is not None:
            async with self._lock:
                if self._last is not None and self._last is not keys:
                    keys = self._last  # refreshed while this request waited
                elif self._clock() - self._last_attempt >= self._refetch_interval:
                    keys = await self._fetch_or_stale(unknown_kid=True)
            found = keys.find(kid, alg)
        return found

    async def current(self) -> KeySet:
        """The fresh keys, fetched if needed (or the stale ones while a refresh fails)."""
        keys = self._fresh.get(_ONLY)
        if keys is None:
            async with self._lock:
                keys = self._fresh.get(_ONLY) or await self._fetch_or_stale()
        return keys

    async def warm_up(self) -> None:
        """Fetch the keys ahead of the first token; a failure is only logged (see current())."""
        with contextlib.suppress(IdentityProviderUnavailable):
            await self.current()

    async def _fetch_or_stale(self, *, unknown_kid: bool = False) -> KeySet:
        now = self._clock()
        if now - self._failed_at >= RETRY_AFTER_SECONDS:
            self._last_attempt = now
            try:
                keys = await self._fetch()
            except KeyFetchError as exc:
                self._failed_at = self._clock()
                self._report(False)
                logger.error(
                    "cannot fetch the OpenID provider's keys",
                    issuer=self._settings.issuer,
                    reason=str(exc),
                    have_keys=self._last is not None,
                )
            else:
                self._report(True)
                self._fresh[_ONLY] = self._last = keys
                if unknown_kid:
                    logger.info("refetched the OpenID provider's keys for an unknown kid")
                return keys
        last = self._last
        if last is not None and (
            unknown_kid
            or self._clock() - last.fetched_at
            <= self._settings.jwks_cache_seconds + self._settings.jwks_max_stale_seconds
        ):
            return last
        raise IdentityProviderUnavailable()

    def _report(self, ok: bool) -> None:
        if self._on_fetch is not None:
            self._on_fetch(ok)

    async def _fetch(self) -> KeySet:
        uri = self._settings.jwks_uri or self._jwks_uri.get(_ONLY) or await self._discover()
        return parse_key_set(await self._get_json(uri), self._clock())

    async def _discover(self) -> str:
        issuer = self._settings.issuer
        document = await self._get_json(issuer.rstrip("/") + DISCOVERY_PATH)
        if not isinstance(document, dict):
            raise KeyFetchError("the discovery document is not a JSON object")
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the same issuer.
        if document.get("issuer") != issuer:
            raise KeyFetchError(
                f"the discovery document names issuer {document.get('issuer')!r}, not {issuer!r}"
            )
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not _allowed_uri(uri, issuer):
            raise KeyFetchError(f"the discovery document's jwks_uri {uri!r} is not usable")
        self._jwks_uri[_ONLY] = uri
        return uri

    async def _get_json(self, url: str) -> Any:
        if self.session is None:
            raise KeyFetchError("the HTTP client is not running")
        timeout = aiohttp.ClientTimeout(total=self._settings.http_timeout_seconds)
        try:
            async with self.session.get(
                url, timeout=timeout, headers={"Accept": "application/json"}
            ) as response:
                if response.status != 200:
                    raise KeyFetchError(f"GET {url}: HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise KeyFetchError(f"GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KeyFetchError(f"GET {url}: {type(exc).__name__} {exc}".rstrip()) from None
        try:
            return json.loads(body)
        except ValueError:
            raise KeyFetchError(f"GET {url}: not JSON") from None


def _allowed_uri(uri: str, issuer: str) -> bool:
    # https, or http only where the issuer itself is a plain-http loopback URL (tests, local dev).
    scheme = urlsplit(uri).scheme
    return bool(urlsplit(uri).hostname) and (
        scheme == "https" or (scheme == "http" and urlsplit(issuer).scheme == "http")
    )
