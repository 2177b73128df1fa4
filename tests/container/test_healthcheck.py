"""``python -m app.healthcheck`` (the image's HEALTHCHECK) against real servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from app import healthcheck
from app.config import parse_config
from app.server import create_app

from .conftest import REPO_ROOT


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_healthcheck(*argv: str, environ: dict[str, str] | None = None) -> int:
    # The check blocks (stdlib http.client), so it runs off the loop that serves the request.
    return await asyncio.to_thread(healthcheck.main, list(argv), environ or {})


async def test_live_server_is_healthy(aiohttp_server: AiohttpServer) -> None:
    app = create_app(parse_config({"auth": {"enabled": False}}))
    server = await aiohttp_server(app, host="127.0.0.1")

    assert await run_healthcheck("--port", str(server.port)) == 0


async def test_failing_liveness_is_unhealthy(
    aiohttp_server: AiohttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async def dead(request: web.Request) -> web.Response:
        return web.json_response({"status": "dead"}, status=503)

    app = web.Application()
    app.router.add_get("/health/live", dead)
    server = await aiohttp_server(app, host="127.0.0.1")

    assert await run_healthcheck("--port", str(server.port)) == 1
    assert f"GET http://127.0.0.1:{server.port}/health/live returned 503" in capsys.readouterr().err


async def test_nothing_listening_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()

    assert await run_healthcheck("--port", str(port), "--timeout", "1") == 1
    assert f"unhealthy: GET http://127.0.0.1:{port}/health/live failed" in capsys.readouterr().err


def test_port_comes_from_the_server_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  port: 8123\nauth:\n  enabled: false\n")

    assert healthcheck.configured_port({"AGENTSMCP_CONFIG": str(config)}) == 8123
    assert (
        healthcheck.configured_port({"AGENTSMCP_CONFIG": str(config), "AGENTSMCP_PORT": "9001"})
        == 9001
    )


def test_unloadable_configuration_falls_back_to_the_env_or_default_port(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text("server: [not, a, mapping]\n")

    assert healthcheck.configured_port({"AGENTSMCP_CONFIG": str(broken)}) == 8000
    assert (
        healthcheck.configured_port({"AGENTSMCP_CONFIG": str(broken), "AGENTSMCP_PORT": "9002"})
        == 9002
    )


def test_runs_as_a_module_with_exit_status_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.healthcheck", "--port", str(closed_port()), "--timeout", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: ")
