"""The official Python MCP client, major 2 (``mcp==2.3.0``, httpx2), against agentsmcp's /mcp.

Runs in ``.venv-mcp2`` (``make mcp-clients``), never in the main suite's ``.venv``:
``python mcp2_client.py '<json plan>'``. It lists the tools, calls an agent without and with
progress, cancels a call in flight and calls an agent whose upstream fails, then prints one JSON
report on stdout for the pytest test (tests/mcp_clients/test_official_clients.py) to assert on.
The fake upstreams' control API (tests/fakes) sets what the upstream does for each step and shows
when it saw the cancelled call's connection drop.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

# Every wait below is bounded; the pytest side bounds the whole process as well.
WAIT_SECONDS = 15.0


class Fake:
    """The fake upstreams' control API (tests/fakes/_server.py)."""

    def __init__(self, http: httpx2.AsyncClient, base: str, provider: str) -> None:
        self._http = http
        self._base = base
        self._provider = provider

    async def behave(self, behavior: dict[str, Any]) -> None:
        await self._http.post(f"{self._base}/_fake/reset")
        response = await self._http.put(
            f"{self._base}/_fake/{self._provider}/default", json=behavior
        )
        response.raise_for_status()

    async def stats(self) -> dict[str, Any]:
        response = await self._http.get(f"{self._base}/_fake/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()[self._provider]
        return stats

    async def wait_for(self, what: str, predicate: Any) -> dict[str, Any]:
        with anyio.fail_after(WAIT_SECONDS):
            while True:
                stats = await self.stats()
                if predicate(stats):
                    return stats
                await anyio.sleep(0.01)
        raise AssertionError(f"unreachable: {what}")


def tool_result(result: Any) -> dict[str, Any]:
    return {
        "is_error": result.is_error,
        "structured": result.structured_content,
        "text": [block.text for block in result.content if block.type == "text"],
    }


async def run(plan: dict[str, Any], report: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {plan['token']}"}
    # A long read timeout: agent runs answer on an SSE stream that may stay quiet for a while.
    timeout = httpx2.Timeout(30, read=300)
    async with (
        httpx2.AsyncClient(timeout=10) as control,
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
    ):
        fake = Fake(control, plan["fake_url"], plan["provider"])
        transport = streamable_http_client(plan["url"], http_client=http)
        async with Client(transport, mode=plan["mode"], read_timeout_seconds=60) as client:
            report["protocol_version"] = client.protocol_version
            report["server_info"] = (
                client.server_info.model_dump(mode="json") if client.server_info else None
            )
            report["step"] = "tools/list"
            listed = await client.list_tools()
            report["tools"] = [
                tool.model_dump(mode="json", by_alias=True, exclude_none=True)
                for tool in listed.tools
            ]

            report["step"] = "call"
            await fake.behave(plan["plain"])
            result = await client.call_tool(plan["tool"], plan["arguments"])
            report["call"] = tool_result(result)

            report["step"] = "call with progress"
            await fake.behave(plan["progress"])
            progress: list[dict[str, Any]] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append({"progress": value, "total": total, "message": message})

            result = await client.call_tool(
                plan["tool"], plan["arguments"], progress_callback=on_progress
            )
            report["progress_call"] = tool_result(result) | {"progress": progress}

            report["step"] = "concurrent calls"
            # Two calls in flight at once on one connection, each with its own progress token.
            concurrent: list[dict[str, Any]] = [{}, {}]

            async def tracked(index: int) -> None:
                seen: list[float] = []

                async def record(value: float, total: float | None, message: str | None) -> None:
                    seen.append(value)

                result = await client.call_tool(
                    plan["tool"], plan["arguments"], progress_callback=record
                )
                concurrent[index] = tool_result(result) | {"progress": seen}

            async with anyio.create_task_group() as group:
                group.start_soon(tracked, 0)
                group.start_soon(tracked, 1)
            report["concurrent"] = concurrent

            report["step"] = "cancel"
            await fake.behave(plan["slow"])
            cancel: dict[str, Any] = {}
            async with anyio.create_task_group() as group:

                async def slow_call() -> None:
                    try:
                        await client.call_tool(plan["tool"], plan["arguments"])
                        cancel["finished"] = True
                    except anyio.get_cancelled_exc_class():
                        cancel["cancelled"] = True
                        raise

                group.start_soon(slow_call)
                await fake.wait_for("the upstream request", lambda s: s["inflight"] >= 1)
                cancelled_at = time.monotonic()
                group.cancel_scope.cancel()
            stats = await fake.wait_for("the upstream disconnect", lambda s: s["disconnects"])
            cancel["upstream_stopped_after_s"] = time.monotonic() - cancelled_at
            cancel["upstream_attempts"] = stats["attempts"]
            cancel["upstream_inflight"] = stats["inflight"]
            report["cancel"] = cancel

            report["step"] = "failure"
            await fake.behave(plan["failing"])
            result = await client.call_tool(plan["tool"], plan["arguments"])
            report["failure"] = tool_result(result)

            report["step"] = "unknown tool"
            try:
                await client.call_tool("no-such-agent-tool", plan["arguments"])
                report["unknown_tool"] = {"raised": False}
            except MCPError as exc:
                report["unknown_tool"] = {"raised": True, "code": exc.code, "message": str(exc)}

            if plan["mode"] == "legacy":  # ping is gone from the 2026-07-28 revision
                report["step"] = "ping after all"
                await client.send_ping()
            report["step"] = "done"


def main() -> int:
    plan = json.loads(sys.argv[1])
    report: dict[str, Any] = {"client": "mcp 2.3.0", "mode": plan["mode"], "step": "connect"}
    try:
        anyio.run(run, plan, report)
    except BaseException as exc:  # the report names the failed step and the error for the test
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
        print(json.dumps(report, default=str))
        return 1
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
