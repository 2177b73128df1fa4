from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from app.auth import TokenVerifier
from app.config import AuthSettings
from app.errors import AuthenticationError
from tests.app.conftest import SECRET, ClientFactory, bearer, make_token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_token(alg: str = "none", signature: bytes = b"") -> str:
    """A token with the given header alg and an arbitrary signature (no key involved)."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    claims = {"sub": "mallory", "iss": "agentsmcp", "aud": "agentsmcp-api", "exp": now + 300}
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


async def test_valid_token_reaches_handler_with_subject(
    make_client: ClientFactory, token: str
) -> None:
    client = await make_client()
    response = await client.get("/test/whoami", headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {"subject": "alice"}


async def test_missing_token_is_401_with_bearer_challenge(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/test/whoami")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == "missing_token"


@pytest.mark.parametrize(
    ("token_value", "description"),
    [
        (make_token(ttl=-3600), "token has expired"),
        (make_token(iss="someone-else"), "wrong issuer"),
        (make_token(aud="other-api"), "wrong audience"),
        (make_token(secret="a-different-secret-of-sufficient-length!!"), "bad signature"),
        (make_token(sub=None), "missing sub claim"),
        (make_token(exp=None), "missing exp claim"),
        (make_token(algorithm="HS512"), "algorithm not allowed"),
        (forged_token("none"), "algorithm not allowed"),
        (forged_token("HS256"), "bad signature"),
        (forged_token("RS256", b"\x01" * 256), "algorithm not allowed"),
        ("garbage", "malformed token"),
        ("a.b.c", "malformed token"),
        ("x" * 5000, "malformed token"),
        ("", None),
    ],
    ids=[
        "expired",
        "wrong-iss",
        "wrong-aud",
        "wrong-secret",
        "no-sub",
        "no-exp",
        "hs512",
        "alg-none",
        "hs256-unsigned",
        "rs256",
        "garbage",
        "three-garbage-parts",
        "huge",
        "empty",
    ],
)
async def test_bad_tokens_are_401(
    make_client: ClientFactory, token_value: str, description: str | None
) -> None:
    client = await make_client()
    response = await client.get("/test/whoami", headers=bearer(token_value))
    assert response.status == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="agentsmcp"')
    if description is not None:
        assert f'error_description="{description}"' in challenge
    body = await response.json()
    assert body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearer"])
async def test_non_bearer_authorization_is_401(make_client: ClientFactory, header: str) -> None:
    client = await make_client()
    response = await client.get("/test/whoami", headers={"Authorization": header})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_lowercase_bearer_scheme_is_accepted(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    response = await client.get("/test/whoami", headers={"Authorization": f"bearer {token}"})
    assert response.status == 200


def test_token_within_leeway_is_accepted() -> None:
    verifier = TokenVerifier(AuthSettings(leeway_seconds=30), SECRET)
    assert verifier.verify(make_token(ttl=-5)) == "alice"


@pytest.mark.parametrize("subject", ["", 123])
def test_empty_or_non_string_sub_is_rejected(subject: object) -> None:
    verifier = TokenVerifier(AuthSettings(), SECRET)
    now = int(time.time())
    claims = {"sub": subject, "iss": "agentsmcp", "aud": "agentsmcp-api", "exp": now + 60}
    with pytest.raises(AuthenticationError):
        verifier.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_cache_never_serves_a_token_past_its_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(AuthSettings(leeway_seconds=0), SECRET, cache_seconds=3600)
    token = make_token(ttl=2)
    assert verifier.verify(token) == "alice"
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 5)

    def decode_as_pyjwt_would_now(*args: object, **kwargs: object) -> object:
        raise jwt.ExpiredSignatureError("Signature has expired")

    # Past exp the cache must fall through to a real verification.
    monkeypatch.setattr(jwt, "decode", decode_as_pyjwt_would_now)
    with pytest.raises(AuthenticationError, match="expired"):
        verifier.verify(token)


def test_cache_is_bounded() -> None:
    verifier = TokenVerifier(AuthSettings(), SECRET, cache_size=50)
    for index in range(500):
        verifier.verify(make_token(sub=f"user-{index}"))
    assert len(verifier._cache) == 50


def test_cache_evicts_the_least_recently_used_token(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(AuthSettings(), SECRET, cache_size=3)
    busy = make_token(sub="busy")
    verifier.verify(busy)
    for index in range(10):
        verifier.verify(make_token(sub=f"other-{index}"))
        verifier.verify(busy)  # used again: never the least recently used

    def no_decode(*args: object, **kwargs: object) -> object:
        raise AssertionError("the busy token must still be cached")

    monkeypatch.setattr(jwt, "decode", no_decode)
    assert verifier.verify(busy) == "busy"
    assert len(verifier) == 3


def test_cached_token_skips_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(AuthSettings(), SECRET)
    token = make_token()
    verifier.verify(token)
    calls = 0

    def counting_decode(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        raise AssertionError("decode must not run for a cached token")

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert verifier.verify(token) == "alice"
    assert calls == 0
