"""Fixtures for driving /mcp with the official MCP clients that live outside the main virtualenv:
mcp 2.x in ``.venv-mcp2`` and the TypeScript SDK in ``tests/node_modules`` (``make mcp-clients``).
Missing clients skip, and CI=true turns a skip into a failure."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config
from tests.reliability.conftest import LiveServer, serve_app

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MCP2_PYTHON = ROOT / ".venv-mcp2" / "bin" / "python"
TS_DIR = HERE / "ts"
# Bounds a whole client run: every step inside the programs is bounded as well.
CLIENT_TIMEOUT = 120.0

# One exposed agent without a fallback, so a failing upstream is the agent's failure, and one
# hidden from MCP.
AGENT = "writer"
DESCRIPTION = "Writes short, plain answers to one self-contained question."
AGENTS: dict[str, dict[str, Any]] = {
    AGENT: {
        "type": "chat",
        "description": DESCRIPTION,
        "provider": "openai",
        "model": "gpt-4o",
        "system_prompt": "You write short, plain answers.",
        "timeout": 20,
        "max_tokens": 256,
    },
    "internal": {
        "type": "chat",
        "provider": "openai",
        "model": "gpt-4o",
        "max_tokens": 64,
        "mcp": {"expose": False},
    },
}
# Progress notifications every 0.2 s instead of 2 s, so a short call shows several.
MCP_SETTINGS: dict[str, Any] = {"progress_interval_seconds": 0.2}


def client_command(name: str) -> list[str]:
    """The command that runs the client program ``name`` ("mcp2", "mcp2-schema" or
    "typescript")."""
    if name in ("mcp2", "mcp2-schema"):
        if not MCP2_PYTHON.exists():
            pytest.skip("mcp 2.x is not installed: run `make mcp-clients`")
        script = "mcp2_client.py" if name == "mcp2" else "mcp2_schema_check.py"
        return [str(MCP2_PYTHON), str(HERE / script)]
    node = shutil.which("node")
    sdk = HERE.parent / "node_modules" / "@modelcontextprotocol" / "sdk"
    if node is None or not sdk.is_dir():
        pytest.skip("node or the TypeScript SDK is missing: run `make mcp-clients`")
    return [node, str(TS_DIR / "client.mjs")]


@dataclass
class ClientRun:
    returncode: int
    report: dict[str, Any]
    stderr: str


async def run_client(command: list[str], plan: dict[str, Any]) -> ClientRun:
    """Run a client program with ``plan`` and parse the JSON report it prints last."""
    process = await asyncio.create_subprocess_exec(
        *command,
        json.dumps(plan),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=HERE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = stdout.decode(errors="replace").strip().splitlines()
    assert lines, f"the client printed no report; stderr:\n{stderr.decode(errors='replace')}"
    return ClientRun(
        process.returncode or 0, json.loads(lines[-1]), stderr.decode(errors="replace")
    )


@pytest.fixture
async def mcp_server(fake: FakeServer) -> AsyncIterator[LiveServer]:
    """Our app on a loopback port with the production runner, its agent on the fake upstreams."""
    config = agent_config(fake, agents=AGENTS, max_retries=0, mcp=MCP_SETTINGS)
    async with serve_app(config) as live:
        yield live
