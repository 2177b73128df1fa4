"""Our 2026-07-28 answers against the revision's own pydantic models (mcp-types 2.3.0).

Runs in ``.venv-mcp2`` (like mcp2_client.py): ``python mcp2_schema_check.py '<json plan>'``.
It sends raw stateless-era requests (``server/discover``, ``ping``, the lists, ``tools/call``
with a result, an ``isError`` result and a JSON-RPC error) and validates every answer with the
``*Response`` model of its method, in strict mode. The generated models ignore unknown members
(``extra="ignore"``) where the schema does not allow them and keep them where it does
(``extra="allow"``, e.g. ``_meta``); so an answer is also required to survive a round trip
through its model unchanged: a member the model would drop (such as a top-level
``serverInfo``) is reported. Prints one JSON report on stdout.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import anyio
import httpx2
from mcp_types import _v2026_07_28 as spec
from pydantic import BaseModel, ValidationError

VERSION = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def dropped(original: Any, kept: Any, path: str = "") -> list[str]:
    """Members of ``original`` that the model's dump lost (or changed)."""
    if isinstance(original, dict) and isinstance(kept, dict):
        problems = []
        for key, value in original.items():
            if key not in kept:
                problems.append(f"{path}/{key}")
            else:
                problems.extend(dropped(value, kept[key], f"{path}/{key}"))
        return problems
    if isinstance(original, list) and isinstance(kept, list) and len(original) == len(kept):
        return [
            problem
            for index, (a, b) in enumerate(zip(original, kept, strict=True))
            for problem in dropped(a, b, f"{path}/{index}")
        ]
    return [] if original == kept else [f"{path} (changed)"]


def check(model: type[BaseModel], message: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = model.model_validate(message, strict=True)
    except ValidationError as exc:
        return {"model": model.__name__, "valid": False, "errors": exc.errors(include_url=False)}
    kept = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {"model": model.__name__, "valid": True, "dropped": dropped(message, kept)}


def read_message(response: httpx2.Response) -> dict[str, Any]:
    """The final JSON-RPC message of a JSON or SSE answer."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [
            line[len("data:") :].strip()
            for line in response.text.splitlines()
            if line.startswith("data:")
        ]
        message: dict[str, Any] = json.loads(data[-1])
        return message
    body: dict[str, Any] = response.json()
    return body


async def run(plan: dict[str, Any], report: dict[str, Any]) -> None:
    base = {
        "Authorization": f"Bearer {plan['token']}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
    }
    async with (
        httpx2.AsyncClient(timeout=30) as http,
        httpx2.AsyncClient(timeout=10) as control,
    ):

        async def send(
            method: str, params: dict[str, Any], name: str | None = None
        ) -> dict[str, Any]:
            headers = {**base, "Mcp-Method": method}
            if name is not None:
                headers["Mcp-Name"] = name
            params = {**params, "_meta": META}
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            response = await http.post(plan["url"], json=body, headers=headers)
            return read_message(response)

        async def upstream(behavior: dict[str, Any]) -> None:
            await control.post(f"{plan['fake_url']}/_fake/reset")
            response = await control.put(
                f"{plan['fake_url']}/_fake/{plan['provider']}/default", json=behavior
            )
            response.raise_for_status()

        checks: dict[str, Any] = {}
        discover = await send("server/discover", {})
        checks["server/discover"] = check(spec.DiscoverResultResponse, discover)
        report["server_info"] = (
            discover.get("result", {}).get("_meta", {}).get("io.modelcontextprotocol/serverInfo")
        )
        checks["ping"] = check(spec.JSONRPCResultResponse, await send("ping", {}))
        checks["tools/list"] = check(spec.ListToolsResultResponse, await send("tools/list", {}))
        checks["prompts/list"] = check(
            spec.ListPromptsResultResponse, await send("prompts/list", {})
        )
        checks["resources/list"] = check(
            spec.ListResourcesResultResponse, await send("resources/list", {})
        )
        checks["resources/templates/list"] = check(
            spec.ListResourceTemplatesResultResponse, await send("resources/templates/list", {})
        )
        call = {"name": plan["tool"], "arguments": plan["arguments"]}
        await upstream(plan["plain"])
        checks["tools/call"] = check(
            spec.CallToolResultResponse, await send("tools/call", call, plan["tool"])
        )
        await upstream(plan["failing"])
        failed = await send("tools/call", call, plan["tool"])
        checks["tools/call isError"] = check(spec.CallToolResultResponse, failed)
        report["is_error"] = failed.get("result", {}).get("isError")
        unknown = {"name": "no-such-tool", "arguments": {}}
        checks["tools/call unknown"] = check(
            spec.JSONRPCErrorResponse, await send("tools/call", unknown, "no-such-tool")
        )
        report["checks"] = checks


def main() -> None:
    plan = json.loads(sys.argv[1])
    report: dict[str, Any] = {}
    try:
        anyio.run(run, plan, report)
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
