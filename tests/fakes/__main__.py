"""``python -m tests.fakes --port N [--chunk-delay S]``: serve both fake upstreams until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from ._server import FakeServer


async def _serve(port: int, chunk_delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with FakeServer(port=port, chunk_delay=chunk_delay) as server:
        print(
            f"fake upstreams on {server.base_url}: OpenAI api_base {server.openai_url}, "
            f"Anthropic api_base {server.anthropic_url}",
            flush=True,
        )
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("--port", type=int, default=8900, help="port on 127.0.0.1 (default 8900)")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.chunk_delay))


if __name__ == "__main__":
    main()
