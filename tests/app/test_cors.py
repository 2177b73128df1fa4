from __future__ import annotations

from tests.app.conftest import ClientFactory, bearer, make_config

ALLOWED = "https://app.example.com"


async def test_allowed_origin_gets_cors_headers(make_client: ClientFactory) -> None:
    client = await make_client(make_config(server={"cors_origins": [ALLOWED]}))
    response = await client.get("/health", headers={"Origin": ALLOWED})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]


async def test_other_origin_gets_no_cors_headers(make_client: ClientFactory) -> None:
    client = await make_client(make_config(server={"cors_origins": [ALLOWED]}))
    response = await client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_preflight_for_allowed_origin_needs_no_token(make_client: ClientFactory) -> None:
    client = await make_client(make_config(server={"cors_origins": [ALLOWED]}))
    response = await client.options(
        "/health",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "AUTHORIZATION" in response.headers["Access-Control-Allow-Headers"].upper()


async def test_preflight_from_other_origin_is_refused(make_client: ClientFactory) -> None:
    client = await make_client(make_config(server={"cors_origins": [ALLOWED]}))
    response = await client.options(
        "/health",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    error = (await response.json())["error"]
    assert error["type"] == "permission_error"
    assert "not allowed" in error["message"]


async def test_no_origins_means_no_cors(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    response = await client.get("/health", headers={"Origin": ALLOWED, **bearer(token)})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_wildcard_origin_is_a_config_error() -> None:
    import pytest

    from app.config import ConfigError

    with pytest.raises(ConfigError, match=r"server\.cors_origins"):
        make_config(server={"cors_origins": ["*"]})
