"""A2A tasks stay bounded: 10,000 tasks from 100 subjects through the running server keep the task
store at its bounds, leave nothing running, keep the process's memory flat, and the server
ready throughout."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.a2a_api import A2A_KEY
from app.a2a_api._store import MemoryTaskStore
from app.a2a_api._wire import Task
from tests.app.conftest import make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

from .conftest import serve_app

pytestmark = pytest.mark.slow

TASKS = 10_000
SUBJECTS = 100
CONCURRENCY = 16
MAX_TASKS = 500
MB = 1024 * 1024


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


async def send(session: aiohttp.ClientSession, url: str, token: str, index: int) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": index,
        "method": "SendMessage",
        "params": {
            "message": {"messageId": f"m{index}", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
        },
    }
    headers = {"Authorization": f"Bearer {token}", "A2A-Version": "1.0"}
    async with session.post(url, json=body, headers=headers) as answer:
        result: dict[str, Any] = await answer.json()
    assert result["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", result


async def test_memory_stays_flat_over_10000_tasks(fake: FakeServer) -> None:
    settings = {"max_tasks": MAX_TASKS, "max_tasks_per_subject": 10}
    config = agent_config(fake, a2a=settings)
    tokens = [make_token(f"user-{i}") for i in range(SUBJECTS)]
    async with serve_app(config) as server, aiohttp.ClientSession() as session:
        url = f"{server.url}/a2a/coding"
        queue = iter(range(TASKS))
        checkpoints: dict[int, int] = {}

        async def worker() -> None:
            for index in queue:
                await send(session, url, tokens[index % SUBJECTS], index)
                if index % 1000 == 999:
                    # The fake upstream (in this process) records every request it serves.
                    fake.openai.reset()
                    async with session.get(f"{server.url}/health/ready") as ready:
                        assert ready.status == 200
                if index in (TASKS // 2, TASKS - 1):
                    gc.collect()
                    checkpoints[index] = rss_bytes()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        service = server.app[A2A_KEY].service
        assert service is not None
        store = service.store
        assert isinstance(store, MemoryTaskStore)
        assert len(store) == MAX_TASKS
        assert service.running == {}
        gc.collect()
        alive = sum(1 for obj in gc.get_objects() if isinstance(obj, Task))
        assert alive <= MAX_TASKS + CONCURRENCY, alive
        half, full = checkpoints[TASKS // 2], checkpoints[TASKS - 1]
        assert full - half < 8 * MB, f"RSS {half / MB:.1f} -> {full / MB:.1f} MiB"
