"""Without tool servers the server never imports the mcp SDK (about 50 MB of RSS), httpx or
jsonschema; with them, mcp is imported at startup rather than in the first run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import asyncio, sys
from aiohttp import web
from app.config import parse_config
from app.server import create_app

data = {"jwt_secret_key": "x" * 40, "openai_api_key": "sk-test",
        "agents": {"a": {"provider": "openai", "model": "gpt-4o"}}}
if sys.argv[1] == "tools":
    data["tool_servers"] = {"t": {"url": "http://127.0.0.1:9/mcp"}}
    data["agents"]["b"] = {"type": "tools", "provider": "openai", "model": "gpt-4o",
                           "tool_servers": ["t"]}

async def main():
    runner = web.AppRunner(create_app(parse_config(data)))
    await runner.setup()
    print(*(name in sys.modules for name in ("mcp", "httpx", "jsonschema")))
    await runner.cleanup()

asyncio.run(main())
"""


def probe(mode: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()


def test_no_tool_servers_no_mcp() -> None:
    assert probe("chat") == ["False", "False", "False"]


def test_tool_servers_import_mcp_at_startup() -> None:
    assert probe("tools")[0] == "True"
