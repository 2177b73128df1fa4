"""Helpers of the A2A tests: JSON-RPC requests and SSE streams over the test client."""

from __future__ import annotations

import json
from typing import Any

from tests.app.conftest import Client

V1 = {"A2A-Version": "1.0"}


def message(text: str, *, context_id: str | None = None, v1: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messageId": f"m-{text[:8]}",
        "role": "ROLE_USER" if v1 else "user",
        "parts": [{"text": text} if v1 else {"kind": "text", "text": text}],
    }
    if context_id is not None:
        body["contextId"] = context_id
    return body if v1 else {"kind": "message", **body}


async def rpc(
    client: Client,
    method: str,
    params: Any,
    auth: dict[str, str],
    *,
    agent: str = "coding",
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> dict[str, Any]:
    answer = await client.post(
        f"/a2a/{agent}",
        json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params},
        headers={**auth, **(V1 if headers is None else headers)},
    )
    assert answer.status == status, await answer.text()
    body: dict[str, Any] = await answer.json()
    assert body["jsonrpc"] == "2.0"
    return body


async def stream(
    client: Client,
    method: str,
    params: Any,
    auth: dict[str, str],
    *,
    agent: str = "coding",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    answer = await client.post(
        f"/a2a/{agent}",
        json={"jsonrpc": "2.0", "id": 8, "method": method, "params": params},
        headers={**auth, **(V1 if headers is None else headers)},
    )
    assert answer.status == 200, await answer.text()
    assert answer.content_type == "text/event-stream"
    events = []
    for block in (await answer.text()).split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                assert event["id"] == 8
                events.append(event["result"])
    return events
