from __future__ import annotations

from app.limits import Bucket, MemoryStore
from tests.app.conftest import ClientFactory, bearer, make_config, make_token


async def test_over_the_limit_is_429_with_headers(make_client: ClientFactory, token: str) -> None:
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 60, "burst": 3})
    client = await make_client(config)
    for remaining in (2, 1, 0):
        response = await client.get("/test/whoami", headers=bearer(token))
        assert response.status == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Remaining"] == str(remaining)
    response = await client.get("/test/whoami", headers=bearer(token))
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert response.headers["RateLimit-Limit"] == "3"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) >= 1
    body = await response.json()
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "rate_limit_exceeded"
    metrics = await (await client.get("/metrics")).text()
    assert "agentsmcp_rate_limited_total 1.0" in metrics
    assert 'http_requests_total{method="GET",route="/test/whoami",status="429"} 1.0' in metrics


async def test_buckets_are_per_subject(make_client: ClientFactory) -> None:
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 1, "burst": 1})
    client = await make_client(config)
    alice, bob = make_token("alice"), make_token("bob")
    assert (await client.get("/test/whoami", headers=bearer(alice))).status == 200
    assert (await client.get("/test/whoami", headers=bearer(alice))).status == 429
    assert (await client.get("/test/whoami", headers=bearer(bob))).status == 200


async def test_other_public_paths_are_limited_per_client_ip(make_client: ClientFactory) -> None:
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 1, "burst": 2})
    client = await make_client(config)
    assert (await client.get("/openapi.json")).status == 200
    assert (await client.get("/openapi.json")).status == 200
    response = await client.get("/openapi.json")
    assert response.status == 429
    assert "Retry-After" in response.headers


PROBE_PATHS = ("/health", "/health/live", "/health/ready", "/metrics")


async def test_probes_and_scrapes_are_never_rate_limited(
    make_client: ClientFactory, token: str
) -> None:
    # A natural quota: the kubelet alone sends more than 10 probes a minute.
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 10, "burst": 2})
    client = await make_client(config)
    statuses = [(await client.get(PROBE_PATHS[i % 4])).status for i in range(1000)]
    assert statuses == [200] * 1000
    response = await client.get("/health/live")
    assert "RateLimit-Limit" not in response.headers
    # The API, from the same address, is still limited.
    api = [(await client.get("/test/whoami", headers=bearer(token))).status for _ in range(3)]
    assert api == [200, 200, 429]
    assert [(await client.get("/openapi.json")).status for _ in range(3)] == [200, 200, 429]
    metrics = await (await client.get("/metrics")).text()
    assert "agentsmcp_rate_limited_total 2.0" in metrics


async def test_readiness_is_503_not_429_while_draining(make_client: ClientFactory) -> None:
    from app.app_keys import STATE_KEY

    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 1, "burst": 1})
    client = await make_client(config)
    client.app[STATE_KEY].not_ready_reason = "draining"
    for _ in range(20):
        response = await client.get("/health/ready")
        assert response.status == 503
        assert (await response.json())["reason"] == "draining"


async def test_disabled_rate_limit_never_429s(make_client: ClientFactory, token: str) -> None:
    config = make_config(rate_limit={"enabled": False, "requests_per_minute": 1, "burst": 1})
    client = await make_client(config)
    for _ in range(5):
        response = await client.get("/test/whoami", headers=bearer(token))
        assert response.status == 200
        assert "RateLimit-Limit" not in response.headers


async def test_unauthenticated_requests_do_not_consume_a_bucket(
    make_client: ClientFactory, token: str
) -> None:
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 1, "burst": 1})
    client = await make_client(config)
    for _ in range(3):
        assert (await client.get("/test/whoami")).status == 401
    assert (await client.get("/test/whoami", headers=bearer(token))).status == 200


def test_bucket_refills_at_the_configured_rate() -> None:
    limiter, bucket = MemoryStore(), Bucket(per_minute=60, burst=2)
    assert limiter.hit_now("k", bucket, 0.0).allowed
    assert limiter.hit_now("k", bucket, 0.0).allowed
    denied = limiter.hit_now("k", bucket, 0.0)
    assert not denied.allowed
    assert denied.retry_after_seconds == 1
    assert not limiter.hit_now("k", bucket, 0.5).allowed
    assert limiter.hit_now("k", bucket, 1.01).allowed
    assert limiter.hit_now("k", bucket, 100.0).remaining == 1


def test_100k_distinct_subjects_stay_bounded() -> None:
    limiter, bucket = MemoryStore(max_entries=1000), Bucket(per_minute=600, burst=100)
    for index in range(100_000):
        limiter.hit_now(f"sub:{index}", bucket, float(index))
    assert len(limiter) == 1000


def test_recently_used_buckets_survive_eviction() -> None:
    limiter, bucket = MemoryStore(max_entries=3), Bucket(per_minute=1, burst=1)
    assert limiter.hit_now("busy", bucket, 0.0).allowed
    for index in range(10):
        limiter.hit_now(f"other-{index}", bucket, 0.0)
        # "busy" keeps hitting, so it is never the least recently used and keeps its state.
        assert not limiter.hit_now("busy", bucket, 0.0).allowed


async def test_the_document_lists_the_rate_limit_headers_each_answer_carries(
    make_client: ClientFactory, token: str
) -> None:
    config = make_config(rate_limit={"enabled": True, "requests_per_minute": 600, "burst": 100})
    client = await make_client(config)
    document = await (await client.get("/openapi.json")).json()
    checked = []
    for path, operations in document["paths"].items():
        if "{" in path or "200" not in operations.get("get", {}).get("responses", {}):
            continue
        response = await client.get(path, headers=bearer(token))
        assert response.status == 200, path
        documented = operations["get"]["responses"]["200"]["headers"]
        sent = {name for name in response.headers if name.startswith("RateLimit-")}
        assert sent == {name for name in documented if name.startswith("RateLimit-")}, path
        checked.append((path, bool(sent)))
    assert ("/v1/agents", True) in checked
    assert ("/v1/models", True) in checked
    assert ("/health/live", False) in checked


async def test_without_rate_limits_no_rate_limit_headers_are_documented(
    make_client: ClientFactory,
) -> None:
    client = await make_client(make_config(rate_limit={"enabled": False}))
    document = await (await client.get("/openapi.json")).json()
    answers = [
        response
        for operations in document["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if status.startswith("2")
    ]
    assert answers
    assert not [name for answer in answers for name in answer["headers"] if "RateLimit" in name]
