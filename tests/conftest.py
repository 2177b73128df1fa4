"""Fixtures shared by every test package: the fake upstreams, a valid bearer header and a real
redis-server per test (skipped without it; CI=true turns a skip into a failure)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.app.conftest import bearer, make_token
from tests.fakes import FakeServer
from tests.redis_server import RedisServer, running_redis


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    """Fake OpenAI and Anthropic upstreams on a loopback port (tests/fakes)."""
    async with FakeServer() as server:
        yield server


@pytest.fixture(autouse=True)
def logging_levels_restored() -> Iterator[None]:
    """The root logger's level as each test found it: an app configured at DEBUG (a test of its
    debug logging) must not turn the SDKs' debug logging on for the tests after it."""
    level = logging.root.level
    yield
    logging.root.setLevel(level)


@pytest.fixture
def auth() -> dict[str, str]:
    return bearer(make_token())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run scripts/system-deps.sh")
    with running_redis(tmp_path) as server:
        yield server
