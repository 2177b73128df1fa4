"""``python -m tests.fakes --port N [--chunk-delay S] [--chunks N]``: serve both fake upstreams
until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from ._server import FakeServer


async def _serve(port: int, chunk_delay: float, chunks: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with FakeServer(port=port, chunk_delay=chunk_delay, chunks=chunks) as server:
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
    parser.add_argument(
        "--chunks", type=int, default=None, help="text chunks per streamed answer (default 4)"
    )
    args = parser.parse_args(argv)
    if args.chunks is not None and args.chunks < 1:
        parser.error("--chunks must be at least 1")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.chunk_delay, args.chunks))


if __name__ == "__main__":
    main()
