"""Runs one agent of the OpenAI Agents SDK (``openai-agents``, in ``.venv-agents``) against our
server's Responses API, as a subprocess of tests/agents_sdk.

Usage: ``agents_client.py '<plan JSON>'`` with ``base_url``, ``token``, ``model``, ``streamed``
and ``chained`` (each turn after the first sends only its new items and the previous response's
id, ``auto_previous_response_id``). The agent has one Python function tool; the report printed
last (one JSON line) holds the final output, the tool's calls, the streamed event types and the
last response id.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from agents import (
    Agent,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The current weather of a city."""
    CALLS.append(city)
    return f"18C and sunny in {city}"


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=plan["base_url"], api_key=plan["token"], max_retries=0)
    agent = Agent(
        name="weather",
        instructions="Use the tool, then answer in one line.",
        model=OpenAIResponsesModel(model=plan["model"], openai_client=client),
        tools=[get_weather],
    )
    events: list[str] = []
    chained = bool(plan["chained"])
    if plan["streamed"]:
        result = Runner.run_streamed(agent, "Weather in Paris?", auto_previous_response_id=chained)
        async for event in result.stream_events():
            if event.type == "raw_response_event":
                events.append(event.data.type)
    else:
        result = await Runner.run(agent, "Weather in Paris?", auto_previous_response_id=chained)
    await client.close()
    return {
        "final_output": result.final_output,
        "tool_calls": CALLS,
        "events": events,
        "last_response_id": result.last_response_id,
        "responses": len(result.raw_responses),
    }


def main() -> None:
    report = asyncio.run(run(json.loads(sys.argv[1])))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
