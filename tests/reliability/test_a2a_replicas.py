"""A2A tasks survive a replica: two real ``python -m app`` processes share a real redis-server as
their limits store, and so as their task store. A task sent on one is read, listed, followed and
cancelled on the other, and the cancel stops the run where it runs; another subject sees none."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.conftest import make_token
from tests.redis_server import running_redis

from ._process import ServerProcess, fake_control, fake_upstreams, get, replicas, server_config

pytestmark = pytest.mark.slow

LIMITS: dict[str, Any] = {
    "enabled": True,
    "backend": "redis",
    "requests_per_minute": 100_000,
    "burst": 10_000,
}


def rpc(server: ServerProcess, method: str, params: Any, subject: str = "alice") -> Any:
    answer = httpx.post(
        f"{server.url}/a2a/coding",
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        headers={"Authorization": f"Bearer {make_token(subject)}", "A2A-Version": "1.0"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def send(server: ServerProcess, text: str, *, wait: bool = True) -> dict[str, Any]:
    params = {
        "message": {"messageId": text, "role": "ROLE_USER", "parts": [{"text": text}]},
        "configuration": {"returnImmediately": not wait},
    }
    task: dict[str, Any] = rpc(server, "SendMessage", params)["result"]["task"]
    return task


def state(server: ServerProcess, task_id: str) -> str:
    result = rpc(server, "GetTask", {"id": task_id})["result"]
    return str(result["status"]["state"])


def metric(server: ServerProcess, line: str) -> bool:
    return line in get(f"{server.url}/metrics")[1].decode()


def first_stream_event(server: ServerProcess, task_id: str) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 2, "method": "SubscribeToTask", "params": {"id": task_id}}
    headers = {"Authorization": f"Bearer {make_token()}", "A2A-Version": "1.0"}
    with httpx.stream(
        "POST", f"{server.url}/a2a/coding", json=body, headers=headers, timeout=30
    ) as answer:
        for line in answer.iter_lines():
            if line.startswith("data:"):
                event: dict[str, Any] = json.loads(line[5:])["result"]
                return event
    raise AssertionError("no event")


def test_a_task_is_read_and_cancelled_on_another_replica(tmp_path: Path) -> None:
    with running_redis(tmp_path) as redis, fake_upstreams(tmp_path) as fakes:
        config = server_config(fakes, rate_limit=LIMITS)
        env = {"REDIS_URL": redis.url, "REDIS_PASSWORD": redis.password}
        with replicas(config, tmp_path, env) as (runs_it, other):
            done = send(other, "quick")
            assert state(runs_it, done["id"]) == "TASK_STATE_COMPLETED"
            listed = rpc(runs_it, "ListTasks", {})["result"]["tasks"]
            assert [task["id"] for task in listed] == [done["id"]]
            assert rpc(runs_it, "ListTasks", {}, "mallory")["result"]["tasks"] == []

            slow = {"chunks": ["slow "] * 60, "chunk_delay": 0.5}
            fake_control(fakes, "PUT", "/_fake/openai/default", slow)
            task = send(runs_it, "slow", wait=False)
            deadline = time.monotonic() + 10
            while state(other, task["id"]) != "TASK_STATE_WORKING":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert "task" in first_stream_event(other, task["id"])

            canceled = rpc(other, "CancelTask", {"id": task["id"]})["result"]
            assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
            assert metric(other, "agentsmcp_a2a_cancels_relayed_total 1.0")
            # The replica running it stopped the run (not merely the record saying so).
            ended = 'agentsmcp_a2a_tasks_total{agent="coding",state="canceled"} 1.0'
            deadline = time.monotonic() + 10
            while not metric(runs_it, ended):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert state(runs_it, task["id"]) == "TASK_STATE_CANCELED"
            assert get(f"{runs_it.url}/health/ready")[0] == 200
