"""Fixtures shared by every test package: the fake upstreams and a valid bearer header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.app.conftest import bearer, make_token
from tests.fakes import FakeServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    """Fake OpenAI and Anthropic upstreams on a loopback port (tests/fakes)."""
    async with FakeServer() as server:
        yield server


@pytest.fixture
def auth() -> dict[str, str]:
    return bearer(make_token())
