from __future__ import annotations

import asyncio

from app import __version__
from app.app_keys import STATE_KEY
from tests.app.conftest import ClientFactory, make_config


async def test_health_reports_version_and_real_uptime(make_client: ClientFactory) -> None:
    client = await make_client()
    first = await (await client.get("/health")).json()
    await asyncio.sleep(0.2)
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["uptime_seconds"] >= first["uptime_seconds"] + 0.15


async def test_live_is_always_ok_even_while_draining(make_client: ClientFactory) -> None:
    client = await make_client()
    client.app[STATE_KEY].not_ready_reason = "draining"
    response = await client.get("/health/live")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert response.headers["Connection"] == "close"


async def test_keep_alive_while_serving_normally(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/health/live")
    assert response.headers.get("Connection", "keep-alive").lower() == "keep-alive"


async def test_ready_is_ok_once_started(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/health/ready")
    assert response.status == 200
    assert await response.json() == {"status": "ready"}


async def test_ready_is_503_with_reason_while_draining(make_client: ClientFactory) -> None:
    client = await make_client()
    client.app[STATE_KEY].not_ready_reason = "draining"
    response = await client.get("/health/ready")
    assert response.status == 503
    assert await response.json() == {"status": "not_ready", "reason": "draining"}


async def test_health_paths_need_no_token(make_client: ClientFactory) -> None:
    client = await make_client()
    for path in ("/health", "/health/live", "/health/ready", "/metrics"):
        assert (await client.get(path)).status == 200, path


async def test_head_on_health(make_client: ClientFactory) -> None:
    client = await make_client()
    assert (await client.head("/health/live")).status == 200


async def test_unknown_path_without_token_is_401_not_404(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/nope")
    assert response.status == 401


async def test_unknown_path_with_auth_disabled_is_404_in_error_shape(
    make_client: ClientFactory,
) -> None:
    client = await make_client(make_config(auth={"enabled": False}))
    response = await client.get("/nope")
    assert response.status == 404
    body = await response.json()
    assert body["error"]["type"] == "not_found_error"
    assert body["error"]["code"] == "not_found"
