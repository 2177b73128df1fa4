"""A Responses API conversation continues on another replica: two real ``python -m app`` processes
share a real redis-server as their limits store, and so as their response store. A response
created on one is continued (``previous_response_id``), fetched and deleted on the other, and is
invisible to another subject there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.app.conftest import make_token
from tests.redis_server import running_redis

from ._process import ServerProcess, fake_control, fake_upstreams, replicas, server_config

pytestmark = pytest.mark.slow


def sdk(server: ServerProcess, subject: str = "alice") -> openai.OpenAI:
    return openai.OpenAI(
        api_key=make_token(subject), base_url=f"{server.url}/v1", max_retries=0, timeout=20
    )


@pytest.mark.parametrize("agent", ["coding", "coding-claude"])
def test_previous_response_id_round_trip_across_two_processes(tmp_path: Path, agent: str) -> None:
    limits: dict[str, Any] = {
        "enabled": True,
        "backend": "redis",
        "requests_per_minute": 100_000,
        "burst": 10_000,
    }
    with (
        running_redis(tmp_path) as redis,
        fake_upstreams(tmp_path) as fakes,
    ):
        config = server_config(fakes, rate_limit=limits)
        env = {"REDIS_URL": redis.url, "REDIS_PASSWORD": redis.password}
        with replicas(config, tmp_path, env) as servers:
            first_replica, second_replica = (sdk(server) for server in servers)
            provider = "anthropic" if agent.endswith("claude") else "openai"
            fake_control(fakes, "PUT", f"/_fake/{provider}/default", {"chunks": ["Paris."]})
            first = first_replica.responses.create(model=agent, input="Capital of France?")
            assert first.output_text == "Paris."

            fake_control(fakes, "PUT", f"/_fake/{provider}/default", {"chunks": ["2.1M."]})
            second = second_replica.responses.create(
                model=agent, input="Its population?", previous_response_id=first.id
            )
            assert second.output_text == "2.1M."
            assert second.previous_response_id == first.id
            # The first replica reads what the second stored, and the other way round.
            assert first_replica.responses.retrieve(second.id).output_text == "2.1M."
            assert second_replica.responses.retrieve(first.id).output_text == "Paris."

            with pytest.raises(openai.NotFoundError):
                sdk(servers[1], "mallory").responses.retrieve(first.id)
            second_replica.responses.delete(first.id)
            with pytest.raises(openai.NotFoundError):
                first_replica.responses.retrieve(first.id)
