"""A real redis-server per test (skipped without it; CI=true turns a skip into a failure)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, running_redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run scripts/system-deps.sh")
    with running_redis(tmp_path) as server:
        yield server
