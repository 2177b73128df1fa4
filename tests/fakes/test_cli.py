"""``python -m tests.fakes`` as the benchmark and fault-injection runs use it: a separate process
driven through its control API."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def fake_process() -> AsyncIterator[str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.fakes", "--port", str(port), "--chunk-delay", "0.001"],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        else:
            raise RuntimeError("the fake upstream did not start")
        yield base
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_cli_serves_both_providers_and_obeys_scripts(fake_process: str) -> None:
    sdk = openai.AsyncOpenAI(api_key="k", base_url=f"{fake_process}/v1", max_retries=0)
    async with aiohttp.ClientSession() as session:
        script = [{"status": 503}, {"chunks": ["a", "b"]}]
        async with session.post(f"{fake_process}/_fake/openai/script", json=script) as response:
            assert response.status == 200
        with pytest.raises(openai.InternalServerError):
            await sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
        completion = await sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert completion.choices[0].message.content == "ab"
        body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        headers = {"anthropic-version": "2026-10-21"}
        async with session.post(
            f"{fake_process}/v1/messages", json=body, headers=headers
        ) as response:
            assert (await response.json())["content"][0]["text"] == "Hello, world!"
        async with session.get(f"{fake_process}/_fake/stats") as response:
            stats = await response.json()
        assert stats["openai"]["attempts"] == 2
        assert stats["anthropic"]["attempts"] == 1
        async with session.post(f"{fake_process}/_fake/openai/script", json=[{"nope": 1}]) as bad:
            assert bad.status == 400
        async with session.post(f"{fake_process}/_fake/reset") as response:
            assert response.status == 200
        async with session.get(f"{fake_process}/_fake/stats") as response:
            assert (await response.json())["openai"]["attempts"] == 0
    await sdk.close()
