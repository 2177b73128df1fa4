"""redis-py is imported only by a server with the shared store (``rate_limit.backend: redis``):
``import redis.asyncio`` is about 12 MB of every process's RSS (bench/FINDINGS.md, section 13)."""

from __future__ import annotations

from tests.probe import run_python

PROBE = """
import asyncio
import sys

from aiohttp import web

from app.config import parse_config
from app.server import create_app

config = parse_config({
    "agents": {"a": {"provider": "openai", "model": "gpt-4o"}},
    "a2a": {"enabled": True},
    "jwt_secret_key": "x" * 40,
    "openai_api_key": "sk-test",
    "rate_limit": {"enabled": True, "backend": "memory"},
})

async def main():
    runner = web.AppRunner(create_app(config))
    await runner.setup()  # startup: every cleanup_ctx, the limits store included
    await runner.cleanup()

asyncio.run(main())
print(sorted(name for name in sys.modules if name == "redis" or name.startswith("redis.")))
"""


def test_the_memory_backend_never_imports_redis() -> None:
    assert run_python(PROBE).strip() == "[]"
