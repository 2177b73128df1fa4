"""A2A's protocol cost per ``SendMessage``: the native binding (app/a2a_api) against a2a-sdk's
``DefaultRequestHandler``, from the JSON body to the JSON answer, without HTTP and with an agent
that answers at once (bench/FINDINGS.md, section 11). CPU time per request after a warm-up.

    python -m bench.a2a_protocol                          # the native binding (.venv)
    .venv-a2a/bin/python -m bench.a2a_protocol --sdk      # the SDK (make a2a-sdk)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "SendMessage",
    "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
}
ANSWER = "Hello, world!"
WARM_UP = 200

OneRequest = Callable[[int], Awaitable[str]]


def native() -> OneRequest:
    from prometheus_client import CollectorRegistry

    from app.a2a_api._metrics import A2aMetrics
    from app.a2a_api._requests import send_params
    from app.a2a_api._store import MemoryTaskStore
    from app.a2a_api._tasks import TaskService
    from app.a2a_api._view import RENDERERS
    from app.a2a_api._wire import Turn, dumps, new_id, result_message
    from app.config import A2aSettings
    from app.core import Admission

    class Stream:
        result: Any = None

        async def __aenter__(self) -> Stream:
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            pass

        async def __aiter__(self) -> AsyncIterator[str]:
            yield ANSWER
            self.result = SimpleNamespace(text=ANSWER, limit=None)

    runner: Any = SimpleNamespace(stream=lambda *args: Stream())
    registry = CollectorRegistry()
    settings = A2aSettings()
    service = TaskService(
        settings,
        runner,
        Admission(1000, registry),
        A2aMetrics(registry, ["bench"]),
        MemoryTaskStore(settings),
    )
    agent: Any = SimpleNamespace(name="bench", settings=SimpleNamespace(timeout=60))

    async def one(index: int) -> str:
        document = json.loads(json.dumps(BODY))
        params = send_params(document["params"], "SendMessage", "1.0")
        context_id = new_id()
        turns = (
            *await service.context_turns("bench", context_id),
            Turn("user", params.text, f"m{index}"),
        )
        execution = await service.start("bench", agent, turns, context_id, None)
        task = await service.final("bench", execution.task, 60)
        return dumps(result_message(document["id"], RENDERERS["1.0"].task_result(task)))

    return one


def sdk() -> OneRequest:
    from a2a.helpers.proto_helpers import new_task
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.context import ServerCallContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import AgentCard, Part, SendMessageRequest, TaskState
    from google.protobuf.json_format import MessageToDict, ParseDict

    class Answer(AgentExecutor):
        async def execute(self, context: RequestContext, queue: EventQueue) -> None:
            task_id, context_id = context.task_id or "", context.context_id or ""
            submitted = TaskState.TASK_STATE_SUBMITTED
            history = [context.message] if context.message else []
            await queue.enqueue_event(new_task(task_id, context_id, submitted, history=history))
            updater = TaskUpdater(queue, task_id, context_id)
            await updater.start_work()
            await updater.add_artifact([Part(text=ANSWER)], name="answer")
            await updater.complete()

        async def cancel(self, context: RequestContext, queue: EventQueue) -> None:
            pass

    handler = DefaultRequestHandler(Answer(), InMemoryTaskStore(), AgentCard(name="bench"))
    call = ServerCallContext()

    async def one(index: int) -> str:
        document = json.loads(json.dumps(BODY))
        document["params"]["message"]["messageId"] = f"m{index}"
        request = ParseDict(document["params"], SendMessageRequest())
        result = await handler.on_message_send(request, call)
        answer = {"task": MessageToDict(result)}
        return json.dumps({"jsonrpc": "2.0", "id": document["id"], "result": answer})

    return one


async def measure(one: OneRequest, requests: int) -> float:
    for index in range(WARM_UP):
        await one(index)
    started = time.process_time()
    for index in range(requests):
        await one(index)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sdk", action="store_true", help="a2a-sdk's request handler")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    one = sdk() if args.sdk else native()
    label = "a2a-sdk" if args.sdk else "native"
    print(f"{label}: {asyncio.run(measure(one, args.requests)):.0f} us CPU per SendMessage")


if __name__ == "__main__":
    main()
