"""Property: every valid OpenAI-style combination of temperature, top_p, stop, user and max_tokens
is answered by both agents, through the official ``openai`` SDK as the client, and the strict fake
upstreams accept every body the server sends for them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.server import create_app
from tests.app.conftest import make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

AGENTS = ("coding", "coding-claude")  # OpenAI and Anthropic
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2, allow_nan=False) | st.none(),
        "top_p": st.floats(0, 1, allow_nan=False) | st.none(),
        "stop": st.none() | TEXT.filter(bool) | st.lists(TEXT.filter(bool), max_size=4),
        "user": TEXT | st.text(min_size=250, max_size=300, alphabet="abc-_0123456789"),
        "max_tokens": st.integers(1, 4096),
        "max_completion_tokens": st.integers(1, 4096),
    },
)


@dataclass
class Live:
    fake: FakeServer
    url: str


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """Our app and the fakes on a loop in a thread, so the SDK's synchronous client can drive
    Hypothesis examples."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeServer()

    async def start() -> web.AppRunner:
        await fake.start()
        runner = web.AppRunner(create_app(agent_config(fake)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    host, port = runner.addresses[0][:2]
    try:
        yield Live(fake, f"http://{host}:{port}/v1")
    finally:

        async def stop() -> None:
            await runner.cleanup()
            await fake.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(agent=st.sampled_from(AGENTS), stream=st.booleans(), params=PARAMS)
def test_every_valid_sampling_combination_is_answered(
    live: Live, agent: str, stream: bool, params: dict[str, Any]
) -> None:
    client = openai.OpenAI(api_key=make_token(), base_url=live.url, max_retries=0)
    upstream = live.fake.openai if agent == "coding" else live.fake.anthropic
    attempts = upstream.attempts
    messages: list[Any] = [{"role": "user", "content": "Write hello world"}]
    with client:
        if stream:
            chunks = client.chat.completions.create(
                model=agent, messages=messages, stream=True, **params
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            completion = client.chat.completions.create(model=agent, messages=messages, **params)
            text = completion.choices[0].message.content or ""
    assert text == "Hello, world!"
    assert upstream.attempts == attempts + 1
    assert not upstream.rejected
    sent = upstream.requests[-1]
    if agent == "coding-claude":
        assert not {"temperature", "top_p"} & set(sent)
    elif params.get("temperature") is not None:
        assert sent["temperature"] == params["temperature"]
