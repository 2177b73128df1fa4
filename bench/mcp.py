"""The MCP ``tools/call`` scenarios: an agent called as a tool through ``POST /mcp`` against the
same agent run directly (``POST /v1/agents/{name}/runs``), same agent, same fake upstream, measured
side by side in one benchmark run. Only our server serves them.

Each ``tools/call`` is one self-contained POST, as hosts send it after the handshake: in the
handshake era with ``MCP-Protocol-Version: 2025-11-25`` and no session (the server keeps none),
and in the stateless 2026-07-28 era with its ``_meta`` and ``Mcp-Method``/``Mcp-Name`` headers.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from bench import report
from bench.load import HttpRequest, LoadError

AGENT_RUN = "agent run"
# The same run streamed: what a tool call does inside (the upstream streams, the answer is SSE).
AGENT_RUN_STREAM = "agent run stream"
MCP_HANDSHAKE_ERA = "mcp tools/call"
# A client that accepts only application/json: the server answers without SSE.
MCP_JSON_ONLY = "mcp tools/call json"
MCP_STATELESS_ERA = "mcp 2026 tools/call"
APIS = (AGENT_RUN, AGENT_RUN_STREAM, MCP_HANDSHAKE_ERA, MCP_JSON_ONLY, MCP_STATELESS_ERA)
CONCURRENCY = (1, 32)

ACCEPT = "application/json, text/event-stream"
HANDSHAKE_VERSION = "2025-11-25"
STATELESS_VERSION = "2026-07-28"
TOOL_CALLS_METRIC = "agentsmcp_mcp_tool_calls_total"


def scenario_name(api: str, concurrency: int) -> str:
    return f"{api} c={concurrency}"


def write_bodies(directory: Path, agent: str, task: str) -> dict[str, Path]:
    """The request body of each API: the run's input and the tool's arguments are one task."""
    call = {"name": agent, "arguments": {"task": task}}
    bodies: dict[str, Any] = {
        AGENT_RUN: {"input": task},
        AGENT_RUN_STREAM: {"input": task, "stream": True},
        MCP_HANDSHAKE_ERA: {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call},
        MCP_STATELESS_ERA: {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                **call,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    bodies[MCP_JSON_ONLY] = bodies[MCP_HANDSHAKE_ERA]
    for api, body in bodies.items():
        paths[api] = directory / f"{api.replace(' ', '-').replace('/', '-')}.json"
        paths[api].write_text(json.dumps(body))
    return paths


def requests(
    base_url: str, token: str, agent: str, bodies: dict[str, Path]
) -> dict[str, HttpRequest]:
    """Each scenario's request to our server, keyed by scenario name."""
    auth = ("Authorization", f"Bearer {token}")
    mcp_url = f"{base_url}/mcp"
    headers: dict[str, tuple[tuple[str, str], ...]] = {
        AGENT_RUN: (auth,),
        AGENT_RUN_STREAM: (auth,),
        MCP_HANDSHAKE_ERA: (auth, ("Accept", ACCEPT), ("MCP-Protocol-Version", HANDSHAKE_VERSION)),
        MCP_JSON_ONLY: (
            auth,
            ("Accept", "application/json"),
            ("MCP-Protocol-Version", HANDSHAKE_VERSION),
        ),
        MCP_STATELESS_ERA: (
            auth,
            ("Accept", ACCEPT),
            ("MCP-Protocol-Version", STATELESS_VERSION),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", agent),
        ),
    }
    run_url = f"{base_url}/v1/agents/{agent}/runs"
    urls = {AGENT_RUN: run_url, AGENT_RUN_STREAM: run_url}
    checks = {AGENT_RUN: check_agent_run, AGENT_RUN_STREAM: check_agent_run_stream}
    found = {}
    for api in APIS:
        expect = checks.get(api, check_tool_call)
        for concurrency in CONCURRENCY:
            found[scenario_name(api, concurrency)] = HttpRequest(
                "POST", urls.get(api, mcp_url), headers[api], bodies[api], expect=expect
            )
    return found


def check_agent_run(payload: bytes) -> None:
    body = json.loads(payload)
    if body.get("status") != "completed" or not body.get("output"):
        raise LoadError(f"the agent run did not complete: {payload[:300]!r}")


def check_agent_run_stream(payload: bytes) -> None:
    if b"event: run.completed" not in payload[-2048:] or b"event: run.failed" in payload:
        raise LoadError(f"the streamed agent run did not complete: {payload[-300:]!r}")


def jsonrpc_response(payload: bytes) -> dict[str, Any]:
    """The JSON-RPC response in an ``application/json`` body or in an SSE stream's events."""
    text = payload.decode()
    if text.lstrip().startswith("{"):
        message: dict[str, Any] = json.loads(text)
        return message
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(
            line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
        )
        if not data:
            continue
        message = json.loads(data)
        if "id" in message and ("result" in message or "error" in message):
            return message
    raise LoadError(f"no JSON-RPC response in: {payload[:300]!r}")


def check_tool_call(payload: bytes) -> None:
    message = jsonrpc_response(payload)
    result = message.get("result")
    if not isinstance(result, dict) or result.get("isError") is not False:
        raise LoadError(f"tools/call did not succeed: {json.dumps(message)[:300]}")
    if not result.get("structuredContent", {}).get("output"):
        raise LoadError(f"tools/call returned no output: {json.dumps(message)[:300]}")


def tool_call_outcomes(base_url: str) -> dict[str, float]:
    """``agentsmcp_mcp_tool_calls_total`` by outcome from the server's /metrics: wrk counts only
    HTTP statuses, and a failed tool call is a 200 with ``isError``."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    outcomes: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(TOOL_CALLS_METRIC + "{"):
            continue
        labels = line[line.index("{") + 1 : line.index("}")]
        outcome = next(
            (part.split("=", 1)[1].strip('"') for part in labels.split(",") if "outcome=" in part),
            "?",
        )
        outcomes[outcome] = outcomes.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return outcomes


# The baselines each scenario is compared with, when the run measured them: the direct agent run,
# plain and streamed, and the chat completion of the same agent (scenario "openai c=N").
BASELINES = (
    ("run", lambda c: scenario_name(AGENT_RUN, c)),
    ("streamed run", lambda c: scenario_name(AGENT_RUN_STREAM, c)),
    ("chat completion", lambda c: f"openai c={c}"),
)


def overhead_table(summaries: report.Summaries) -> str:
    """Each scenario against the baselines, medians of the same run, as ratios."""
    names = " / ".join(name for name, _ in BASELINES)
    lines = [
        f"| scenario | RPS | RPS vs {names} | p50 ms | p50 over {names} | p99 ms "
        f"| CPU us/request | CPU vs {names} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for concurrency in CONCURRENCY:
        baselines = [
            summaries.get((report.SERVER, scenario(concurrency))) for _, scenario in BASELINES
        ]
        for api in APIS:
            own = summaries.get((report.SERVER, scenario_name(api, concurrency)))
            if own is None:
                continue
            rps, added, cpu = [], [], []
            for base in baselines:
                if base is None or base is own:
                    rps.append("-")
                    added.append("-")
                    cpu.append("-")
                    continue
                rps.append(f"{own['rps'].median / base['rps'].median:.2f}x")
                added.append(f"{own['p50_ms'].median - base['p50_ms'].median:+.2f} ms")
                cpu.append(
                    f"{own['cpu_us_per_request'].median / base['cpu_us_per_request'].median:.2f}x"
                )
            lines.append(
                f"| {scenario_name(api, concurrency)} | {own['rps'].median:,.0f} "
                f"| {' / '.join(rps)} | {own['p50_ms'].median:.2f} | {' / '.join(added)} "
                f"| {own['p99_ms'].median:.2f} | {own['cpu_us_per_request'].median:,.0f} "
                f"| {' / '.join(cpu)} |"
            )
    return "\n".join(lines)
