"""A real OpenID provider for the auth tests: the npm package oidc-provider (a certified OpenID
implementation, pinned in package-lock.json and installed by ``make node-deps``) run by node on
127.0.0.1. Tests get client-credentials JWT access tokens from its token endpoint; they never sign
a provider token themselves. See provider.mjs for its clients and resources."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "provider.mjs"
MCP_CLIENT_SCRIPT = HERE / "mcp-client-auth.mjs"
MCP_OAUTH_SCRIPT = HERE / "mcp-client-oauth.mjs"
START_TIMEOUT_SECONDS = 30.0
CLIENT_SECRET = "secret"
# The clients provider.mjs registers.
RS256_CLIENT = "mcp-host"
ES256_CLIENT = "mcp-host-es"
SHORT_LIVED_CLIENT = "short-lived"
# Their access tokens carry a groups claim: ["team-a"], ["team-b"].
TEAM_A_CLIENT = "team-a"
TEAM_B_CLIENT = "team-b"


class ProviderNotInstalled(RuntimeError):
    pass


def node_command(script: Path = SCRIPT) -> list[str]:
    node = shutil.which("node")
    if node is None or not (HERE.parent / "node_modules" / "oidc-provider").is_dir():
        raise ProviderNotInstalled(
            "tests/oidc needs node and its pinned packages: run `make node-deps` (npm ci)"
        )
    return [node, str(script)]


class OidcProvider:
    """One provider process; ``restart(rotate=True)`` keeps its port, issuer and old keys and
    puts new signing keys first (a key rotation)."""

    def __init__(self, workdir: Path) -> None:
        self.keys_file = workdir / "provider-keys.json"
        self.log_file = workdir / "provider.log"
        self.issuer = ""
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, rotate: bool = False) -> OidcProvider:
        command = [*node_command(), "--keys", str(self.keys_file), "--port", str(self.port)]
        if rotate:
            command.append("--rotate")
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, cwd=HERE
            )
        self._process = process
        assert process.stdout is not None
        line = _read_line(process.stdout, START_TIMEOUT_SECONDS)
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {line!r}; see {self.log_file}")
        self.issuer = line.split()[1]
        self.port = int(self.issuer.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def pause(self) -> None:
        """Freeze the process: connections are accepted by the kernel but never answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def restart(self, *, rotate: bool = False) -> None:
        self.stop()
        self.start(rotate=rotate)

    async def token_response(
        self,
        *,
        resource: str,
        scope: str | None = None,
        client_id: str = RS256_CLIENT,
    ) -> dict[str, Any]:
        form = {"grant_type": "client_credentials", "resource": resource}
        if scope is not None:
            form["scope"] = scope
        headers = {"Authorization": aiohttp.encode_basic_auth(client_id, CLIENT_SECRET)}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.issuer}/.well-known/openid-configuration") as discovery,
        ):
            token_endpoint = (await discovery.json())["token_endpoint"]
            async with session.post(token_endpoint, data=form, headers=headers) as response:
                body: dict[str, Any] = await response.json()
                if response.status != 200:
                    raise AssertionError(f"token endpoint answered {response.status}: {body}")
                return body

    async def token(
        self, *, resource: str, scope: str | None = None, client_id: str = RS256_CLIENT
    ) -> str:
        body = await self.token_response(resource=resource, scope=scope, client_id=client_id)
        token: str = body["access_token"]
        return token


async def mcp_sdk_client_credentials(
    server_url: str,
    protected_url: str,
    issuer: str,
    *,
    scope: str = "",
    client_id: str = RS256_CLIENT,
) -> dict[str, Any]:
    """Run the official MCP TypeScript SDK's OAuth client (mcp-client-auth.mjs) and return what
    it saw: the 401 challenge, discovery, the token it got and the retried request's status."""
    process = await asyncio.create_subprocess_exec(
        *node_command(MCP_CLIENT_SCRIPT),
        server_url,
        protected_url,
        issuer,
        client_id,
        CLIENT_SECRET,
        scope,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT_SECONDS)
    if process.returncode != 0:
        raise AssertionError(f"the MCP SDK client failed: {stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(stdout)
    return result


async def mcp_sdk_oauth_session(plan: dict[str, Any]) -> dict[str, Any]:
    """Run the official MCP TypeScript SDK's ``Client`` with a client-credentials auth provider
    against /mcp (mcp-client-oauth.mjs) and return its report: every HTTP exchange, the token it
    got, the tools, the call's result, and what each of ``plan["badTokens"]`` got."""
    process = await asyncio.create_subprocess_exec(
        *node_command(MCP_OAUTH_SCRIPT),
        json.dumps({"clientId": RS256_CLIENT, "clientSecret": CLIENT_SECRET, **plan}),
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = stdout.decode(errors="replace").strip().splitlines()
    assert lines, f"the MCP SDK client printed nothing: {stderr.decode()[-3000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def _read_line(stream: Any, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
    return buffer.decode(errors="replace").strip()
