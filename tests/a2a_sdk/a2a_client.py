"""Runs in .venv-a2a (the official a2a-sdk 1.3.0 client), driven by tests/a2a_sdk: argv[1] is a
JSON plan {"base": url, "token": jwt, "agent": name, "steps": [...]}; the last stdout line is a
JSON report of what the client saw. Each step is one thing a client does with the SDK."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, create_client, minimal_agent_card
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from google.protobuf.json_format import MessageToDict

CARD_PATH = "/.well-known/agent-card.json"


def state(value: int) -> str:
    return TaskState.Name(value)


class Session:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.base = plan["base"]
        self.agent = plan["agent"]
        self.http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {plan['token']}"}, timeout=60
        )
        self.cards: dict[str, AgentCard] = {}
        self.contexts: dict[str, str] = {}
        self.tasks: dict[str, str] = {}

    async def card(self, name: str) -> AgentCard:
        if name not in self.cards:
            resolver = A2ACardResolver(self.http, self.base)
            self.cards[name] = await resolver.get_agent_card(f"/a2a/{name}{CARD_PATH}")
        return self.cards[name]

    async def discover(self, step: dict[str, Any]) -> dict[str, Any]:
        server = await A2ACardResolver(self.http, self.base).get_agent_card()
        agent = await self.card(self.agent)
        return {
            "server_skills": [skill.id for skill in server.skills],
            "agent_name": agent.name,
            "interfaces": [MessageToDict(i) for i in agent.supported_interfaces],
            "streaming": agent.capabilities.streaming,
            "schemes": sorted(agent.security_schemes),
        }

    async def client(self, streaming: bool, version: str = "1.0") -> Any:
        card = AgentCard()
        card.CopyFrom(await self.card(self.agent))
        if version != "1.0":
            # A 0.3 client: the SDK's 0.3 compatibility transport (message/send, ...).
            for interface in card.supported_interfaces:
                interface.protocol_version = version
        config = ClientConfig(streaming=streaming, httpx_client=self.http)
        return await create_client(card, client_config=config)

    async def send(self, step: dict[str, Any]) -> dict[str, Any]:
        client = await self.client(step.get("streaming", False), step.get("version", "1.0"))
        return await self.deliver(client, step)

    async def extended(self, step: dict[str, Any]) -> dict[str, Any]:
        """An agent addressed by its URL alone (its public card may be refused): the SDK's
        minimal card, the authenticated extended card, then (``text``) a message through the
        client that now holds that card."""
        card = minimal_agent_card(f"{self.base}/a2a/{step['agent']}", ["JSONRPC"])
        if step.get("version"):
            card.supported_interfaces[0].protocol_version = step["version"]
        config = ClientConfig(streaming=False, httpx_client=self.http)
        client = await create_client(card, client_config=config)
        extended = await client.get_extended_agent_card(GetExtendedAgentCardRequest())
        report: dict[str, Any] = {
            "name": extended.name,
            "skills": [skill.id for skill in extended.skills],
            "interfaces": [MessageToDict(i) for i in extended.supported_interfaces],
            "extended": extended.capabilities.extended_agent_card,
            "schemes": sorted(extended.security_schemes),
        }
        if "text" in step:
            report["sent"] = await self.deliver(client, step)
        return report

    async def deliver(self, client: Any, step: dict[str, Any]) -> dict[str, Any]:
        message = Message(
            role=Role.ROLE_USER, message_id=step["message_id"], parts=[Part(text=step["text"])]
        )
        if step.get("context") in self.contexts:
            message.context_id = self.contexts[step["context"]]
        request = SendMessageRequest(message=message)
        if step.get("return_immediately"):
            request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
        events = []
        task_id = context_id = ""
        answer: list[str] = []
        final = ""
        async for event in client.send_message(request):
            kind = event.WhichOneof("payload")
            events.append(kind)
            if kind == "task":
                task_id, context_id = event.task.id, event.task.context_id
                final = state(event.task.status.state)
                for artifact in event.task.artifacts:
                    answer.extend(part.text for part in artifact.parts)
            elif kind == "status_update":
                final = state(event.status_update.status.state)
            elif kind == "artifact_update":
                answer.extend(part.text for part in event.artifact_update.artifact.parts)
        self.tasks[step["name"]] = task_id
        self.contexts[step["name"]] = context_id
        return {
            "events": events,
            "state": final,
            "answer": "".join(answer),
            "task": task_id,
            "context": context_id,
        }

    async def get(self, step: dict[str, Any]) -> dict[str, Any]:
        client = await self.client(False, step.get("version", "1.0"))
        task = await client.get_task(GetTaskRequest(id=self.tasks.get(step["task"], step["task"])))
        return {
            "state": state(task.status.state),
            "context": task.context_id,
            "history": len(task.history),
        }

    async def list(self, step: dict[str, Any]) -> dict[str, Any]:
        client = await self.client(False)
        listed = await client.list_tasks(ListTasksRequest())
        return {"tasks": [task.id for task in listed.tasks], "total": listed.total_size}

    async def cancel(self, step: dict[str, Any]) -> dict[str, Any]:
        client = await self.client(False, step.get("version", "1.0"))
        task = await client.cancel_task(
            CancelTaskRequest(id=self.tasks.get(step["task"], step["task"]))
        )
        return {"state": state(task.status.state)}

    async def subscribe(self, step: dict[str, Any]) -> dict[str, Any]:
        client = await self.client(True)
        events = []
        async for event in client.subscribe(
            SubscribeToTaskRequest(id=self.tasks.get(step["task"], step["task"]))
        ):
            events.append(event.WhichOneof("payload"))
        return {"events": events}

    async def error(self, step: dict[str, Any]) -> dict[str, Any]:
        """A step expected to fail: the SDK's exception type and message."""
        try:
            await getattr(self, step["do"])(step)
        except Exception as exc:
            return {"error": type(exc).__name__, "message": str(exc)}
        return {"error": None}


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    session = Session(plan)
    report = {}
    try:
        for step in plan["steps"]:
            report[step["name"]] = await getattr(session, step["op"])(step)
    finally:
        await session.http.aclose()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
