from __future__ import annotations

import secrets

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from app import __version__
from app.server import create_app
from tests.app.conftest import ClientFactory, bearer, make_config


def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_exposition_has_core_metrics(make_client: ClientFactory) -> None:
    client = await make_client()
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()
    assert 'http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/health"}' in text
    assert "http_requests_in_flight 1.0" in text  # the /metrics request itself
    assert "agentsmcp_rate_limited_total 0.0" in text
    assert f'agentsmcp_build_info{{commit="unknown",version="{__version__}"}} 1.0' in text


async def test_build_info_commit_from_environment(
    make_client: ClientFactory, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("AGENTSMCP_COMMIT", "abc1234")
    client = await make_client()
    text = await (await client.get("/metrics")).text()
    assert 'agentsmcp_build_info{commit="abc1234"' in text


async def test_route_label_is_the_pattern_and_unknown_paths_are_unmatched(
    make_client: ClientFactory, token: str
) -> None:
    client = await make_client(make_config(auth={"enabled": False}))
    await client.get("/nope")
    text = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text


async def test_parametrised_route_uses_the_pattern(aiohttp_client: object) -> None:
    from aiohttp import web

    async def show(request: web.Request) -> web.Response:
        return web.json_response({})

    app = create_app(make_config(auth={"enabled": False}))
    app.router.add_get("/items/{name}", show)
    client = await aiohttp_client(app)  # type: ignore[operator]
    for name in ("a", "b", "c"):
        assert (await client.get(f"/items/{name}")).status == 200
    text = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/items/{name}",status="200"} 3.0' in text


async def test_1000_random_unknown_paths_add_no_series(
    make_client: ClientFactory, token: str
) -> None:
    client = await make_client(make_config(rate_limit={"enabled": False}))
    await client.get("/nope-warmup", headers=bearer(token))
    await client.request("PROPFIND", "/nope-warmup", headers=bearer(token))
    await client.get("/metrics")
    before = series(await (await client.get("/metrics")).text())
    for _ in range(1000):
        path = "/" + secrets.token_hex(8) + "/" + secrets.token_urlsafe(6)
        method = "PROPFIND" if secrets.randbelow(2) else "GET"
        await client.request(method, path, headers=bearer(token))
    after = series(await (await client.get("/metrics")).text())
    assert after == before


async def test_metrics_disabled_means_404(make_client: ClientFactory) -> None:
    client = await make_client(make_config(metrics={"enabled": False}))
    response = await client.get("/metrics")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


def test_each_app_gets_its_own_registry() -> None:
    first = create_app(make_config())
    second = create_app(make_config())
    from app.app_keys import METRICS_KEY

    assert first[METRICS_KEY].registry is not second[METRICS_KEY].registry
    shared = CollectorRegistry()
    assert create_app(make_config(), registry=shared)[METRICS_KEY].registry is shared
