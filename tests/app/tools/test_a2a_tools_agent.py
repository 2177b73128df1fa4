"""A tools agent over A2A: a streamed task shows the tool call as a working status update, and the
answer after the tool's result is the task's artifact."""

from __future__ import annotations

import json

from tests.app.conftest import make_token
from tests.fakes import Behavior, FakeServer, ScriptedCall

from .conftest import StartServer, ToolProcess, calc_server, tools_agent, tools_config


async def test_tool_steps_are_status_updates(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer
) -> None:
    config = tools_config(
        fake, {"calc": calc_server(tool_server)}, {"helper": tools_agent("openai", ["calc"])}
    )
    server = await start_server(config)
    fake.openai.script(
        Behavior(chunks=(), tool_calls=(ScriptedCall("slow", '{"seconds": 0.2}', id="call_s"),)),
        Behavior(chunks=("The tool said: ", "done.")),
    )
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendStreamingMessage",
        "params": {
            "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "Wait."}]}
        },
    }
    headers = {"Authorization": f"Bearer {make_token()}", "A2A-Version": "1.0"}
    async with server.http.post(f"{server.url}/a2a/helper", json=body, headers=headers) as answer:
        text = await answer.text()
    events = [
        json.loads(line[5:])["result"] for line in text.splitlines() if line.startswith("data:")
    ]
    notes = [
        event["statusUpdate"]["status"].get("message", {}).get("parts", [{}])[0].get("text")
        for event in events
        if "statusUpdate" in event
    ]
    assert "Calling tool slow (step 1)." in notes
    artifact = next(event["artifactUpdate"] for event in events if "artifactUpdate" in event)
    assert artifact["artifact"]["parts"] == [{"text": "The tool said: done."}]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
