"""``python -m bench.stream_memory``: where our server's memory goes per in-flight stream.

Starts the fake upstream (paced: ``--chunks`` chunks ``--chunk-delay`` seconds apart) and our
server, warms it up with a few streams, then opens ``--streams`` streaming chat completions at
once and, while all of them are in flight, reads the server's RSS from /proc and (with
``--frames`` > 0, through ``bench.memory_probe``) a tracemalloc snapshot. The snapshot is
compared with one taken at idle after the warm-up; the difference is split by origin (the
innermost frame outside the standard library that allocated it) and divided by the number of
streams. RSS is only meaningful with ``--frames 0``: tracemalloc keeps a traceback per block.

    nice -n 19 python -m bench.stream_memory --streams 1000 [--frames 0] [--one-agent]

Loopback only; meant for a quiet-ish machine but it measures memory, not time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import sysconfig
import time
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from bench.memory_probe import FRAMES_ENV, SNAPSHOT_ENV
from bench.processes import (
    ANTHROPIC_AGENT,
    OPENAI_AGENT,
    OPENAI_KEY,
    OPENAI_MODEL,
    REPO_ROOT,
    Process,
    ServerSetup,
    agent_server,
    fake_upstream,
    minimal_proxy,
    print_failure,
    rss_bytes,
)

STDLIB = sysconfig.get_paths()["stdlib"]
SITE_PACKAGES = "site-packages/"
WARM_UP_STREAMS = 20
SNAPSHOT_TIMEOUT_SECONDS = 120.0
STREAM_TIMEOUT_SECONDS = 600
# aiohttp modules used by both its client and its server: the frames further out decide.
# Outermost frames of the server process: what the event loop calls directly stops here.
LOOP_ENTRY_POINTS = ("app/__main__.py", "bench/memory_probe.py")
AIOHTTP_SERVER_PREFIX = "aiohttp/web"
AIOHTTP_CLIENT_PREFIXES = ("aiohttp/client", "aiohttp/connector", "openai/_vendor")


@dataclass(frozen=True)
class Target:
    """The process measured, and the key and model its requests carry."""

    process: Process
    key: str
    model: str


def start_target(out: Path, upstream: Process, args: argparse.Namespace) -> Target:
    if args.proxy:
        proxy = minimal_proxy(out, 0, upstream)
        proxy.cpu = "0-1"
        proxy.start()
        return Target(proxy, OPENAI_KEY, OPENAI_MODEL)
    server = start_server(out, upstream, args)
    return Target(server.process, server.token, OPENAI_AGENT)


def start_server(out: Path, upstream: Process, args: argparse.Namespace) -> ServerSetup:
    module = "bench.memory_probe" if args.frames else "app"
    server = agent_server(out, "0-1", upstream, module, {"max_inflight_runs": 10_000})
    config = yaml.safe_load(server.config_path.read_text())
    if args.one_agent:
        del config["agents"][ANTHROPIC_AGENT]
    # Streams stay open while a snapshot stops the server; the whole stream counts.
    config["providers"]["openai"]["timeout"] = STREAM_TIMEOUT_SECONDS
    server.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    server.process.env[FRAMES_ENV] = str(args.frames)
    server.process.env[SNAPSHOT_ENV] = str(out / "snapshot.tracemalloc")
    server.process.start()
    return server


@dataclass
class Streams:
    """Counts of streams that sent their first byte and that ended, and the failures;
    ``settled`` is set once each of the ``expected`` streams has started or failed."""

    expected: int
    started: int = 0
    ended: int = 0
    failures: int = 0
    first_failure: str = ""
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self.started += 1
        self._check()

    def fail(self, reason: str) -> None:
        self.failures += 1
        self.first_failure = self.first_failure or reason
        self._check()

    def _check(self) -> None:
        if self.started + self.failures >= self.expected:
            self.settled.set()


async def one_stream(
    session: aiohttp.ClientSession, url: str, target: Target, prompt: str, streams: Streams
) -> None:
    message = {"role": "user", "content": prompt}
    body = {"model": target.model, "messages": [message], "stream": True}
    headers = {"Authorization": f"Bearer {target.key}"}
    tail = b""
    try:
        async with session.post(url, json=body, headers=headers) as response:
            async for chunk in response.content.iter_any():
                if not tail:
                    streams.start()
                tail = (tail + chunk)[-64:]
    except (aiohttp.ClientError, TimeoutError) as exc:
        streams.fail(f"{type(exc).__name__}: {exc}")
        return
    finally:
        streams.ended += 1
    if response.status != 200 or b"[DONE]" not in tail:
        streams.fail(f"{response.status}: {tail!r}")


async def snapshot(server: Process, keep_as: Path) -> tracemalloc.Snapshot:
    """Ask ``bench.memory_probe`` in the server for a snapshot, keep it as ``keep_as``, load it."""
    os.kill(server.pid, signal.SIGUSR1)
    return await asyncio.to_thread(_load_written, Path(server.env[SNAPSHOT_ENV]), keep_as)


def _load_written(written: Path, keep_as: Path) -> tracemalloc.Snapshot:
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_SECONDS
    while not written.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no tracemalloc snapshot from the server")
        time.sleep(0.2)
    written.replace(keep_as)
    return tracemalloc.Snapshot.load(str(keep_as))


def short_name(filename: str) -> str:
    """``aiohttp/web_protocol.py`` for an installed package, ``app/...`` for ours."""
    if SITE_PACKAGES in filename:
        return filename.rpartition(SITE_PACKAGES)[2]
    root = str(REPO_ROOT) + "/"
    return filename.removeprefix(root).removeprefix(STDLIB + "/")


def origin(traceback: tracemalloc.Traceback) -> str:
    """Who allocated: the innermost frame outside the standard library, by package (aiohttp:
    server or client side, from the frames further out when the module is shared)."""
    names = [short_name(frame.filename) for frame in reversed(traceback)]
    own = [
        name
        for name, frame in zip(names, reversed(traceback), strict=True)
        if not frame.filename.startswith(STDLIB)
    ]
    if not own or own[0] in LOOP_ENTRY_POINTS:
        return f"stdlib {names[0].partition('/')[0]} (event loop)"
    first = own[0]
    if first.startswith("aiohttp/"):
        for name in own:
            if name.startswith(AIOHTTP_SERVER_PREFIX):
                return "aiohttp server"
            if name.startswith(AIOHTTP_CLIENT_PREFIXES):
                return "aiohttp client"
        return "aiohttp (other)"
    if first.startswith(("openai/", "anthropic/")):
        return "SDK (openai)" if first.startswith("openai/") else "SDK (anthropic)"
    if first.startswith("app/"):
        return f"ours: {first}"
    return first.partition("/")[0]


@dataclass
class Share:
    size: int = 0
    count: int = 0


def by_origin(
    current: tracemalloc.Snapshot, idle: tracemalloc.Snapshot
) -> tuple[dict[str, Share], list[tracemalloc.StatisticDiff]]:
    diffs = current.compare_to(idle, "traceback")
    shares: dict[str, Share] = defaultdict(Share)
    for diff in diffs:
        share = shares[origin(diff.traceback)]
        share.size += diff.size_diff
        share.count += diff.count_diff
    return shares, sorted(diffs, key=lambda diff: diff.size_diff, reverse=True)


def describe(diff: tracemalloc.StatisticDiff) -> str:
    """The allocating line, and the innermost line of ours or of a package above it."""
    frames = list(reversed(diff.traceback))
    lines = [f"{short_name(frames[0].filename)}:{frames[0].lineno}"]
    for frame in frames[1:]:
        if not frame.filename.startswith(STDLIB):
            lines.append(f"{short_name(frame.filename)}:{frame.lineno}")
            if len(lines) == 3:
                break
    return " < ".join(lines)


def print_snapshot_report(
    current: tracemalloc.Snapshot, idle: tracemalloc.Snapshot, in_flight: int, top: int
) -> None:
    shares, diffs = by_origin(current, idle)
    total = sum(share.size for share in shares.values())
    print(
        f"\ntracemalloc: {total / in_flight:,.0f} bytes per stream over idle ({in_flight} streams)"
    )
    print("| origin | bytes per stream | blocks per stream |\n|---|---|---|")
    for name, share in sorted(shares.items(), key=lambda item: -item[1].size):
        if abs(share.size) / in_flight >= 50:
            print(f"| {name} | {share.size / in_flight:,.0f} | {share.count / in_flight:,.1f} |")
    print(f"\ntop {top} allocation sites (bytes per stream, blocks per stream):")
    for diff in diffs[:top]:
        print(
            f"{diff.size_diff / in_flight:8,.0f} B {diff.count_diff / in_flight:6.1f}  "
            f"{describe(diff)}"
        )


async def open_streams(
    target: Target, count: int, prompt: str = "Hi"
) -> tuple[Streams, list[asyncio.Task[None]], aiohttp.ClientSession]:
    """Start ``count`` streams at once and return when all have sent their first byte."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=STREAM_TIMEOUT_SECONDS),
    )
    streams = Streams(count)
    url = f"{target.process.base_url}/v1/chat/completions"
    tasks = [
        asyncio.create_task(one_stream(session, url, target, prompt, streams)) for _ in range(count)
    ]
    await streams.settled.wait()
    return streams, tasks, session


async def finish(
    streams: Streams, tasks: list[asyncio.Task[None]], session: aiohttp.ClientSession
) -> None:
    await asyncio.gather(*tasks)
    await session.close()
    if streams.failures:
        raise RuntimeError(f"{streams.failures} streams failed; first: {streams.first_failure}")


async def measure(target: Target, args: argparse.Namespace) -> None:
    pid = target.process.pid
    rss_started = rss_bytes(pid)
    await finish(*await open_streams(target, WARM_UP_STREAMS))
    if args.frames:
        os.kill(pid, signal.SIGUSR2)
        await finish(*await open_streams(target, WARM_UP_STREAMS))
    await asyncio.sleep(1.0)
    rss_idle = rss_bytes(pid)
    idle = await snapshot(target.process, args.out / "idle.tracemalloc") if args.frames else None
    prompt = "Hi" + "x" * max(0, args.prompt_bytes - 2)
    streams, tasks, session = await open_streams(target, args.streams, prompt)
    in_flight = streams.started - streams.ended
    rss_busy = rss_bytes(pid)
    current = await snapshot(target.process, args.out / "busy.tracemalloc") if args.frames else None
    await finish(streams, tasks, session)
    await asyncio.sleep(1.0)
    rss_after = rss_bytes(pid)
    print(
        f"{in_flight} streams in flight ({describe_target(args)}, "
        f"tracemalloc frames {args.frames}): RSS at start {rss_started / 2**20:.1f} MB, idle after "
        f"{WARM_UP_STREAMS} streams {rss_idle / 2**20:.1f} MB, in flight "
        f"{rss_busy / 2**20:.1f} MB, after {rss_after / 2**20:.1f} MB; "
        f"{(rss_busy - rss_idle) / in_flight:,.0f} bytes per stream, "
        f"{(rss_busy - rss_idle) / 2**20 * 1000 / in_flight:.1f} MB per 1,000 streams"
    )
    if current is not None and idle is not None:
        print_snapshot_report(current, idle, in_flight, args.top)


def describe_target(args: argparse.Namespace) -> str:
    if args.proxy:
        return "minimal proxy"
    return "our server, one agent" if args.one_agent else "our server, two agents"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--streams", type=int, default=1000, help="streams in flight (1000)")
    parser.add_argument("--chunks", type=int, default=40, help="text chunks per stream (40)")
    parser.add_argument("--chunk-delay", type=float, default=1.5, help="seconds apart (1.5)")
    parser.add_argument(
        "--frames", type=int, default=12, help="tracemalloc traceback depth; 0: RSS only (12)"
    )
    parser.add_argument(
        "--prompt-bytes", type=int, default=2, help="size of the user message sent (2)"
    )
    parser.add_argument(
        "--proxy", action="store_true", help="measure bench.minimal_proxy instead (RSS only)"
    )
    parser.add_argument("--one-agent", action="store_true", help="an OpenAI agent only")
    parser.add_argument("--top", type=int, default=25, help="allocation sites listed (25)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench" / "memory")
    args = parser.parse_args(argv)
    if args.proxy:
        args.frames = 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started: list[Process] = []
    try:
        upstream = fake_upstream(args.out, 0, args.chunk_delay, args.chunks)
        upstream.cpu = "0-1"
        upstream.start()
        started.append(upstream)
        target = start_target(args.out, upstream, args)
        started.append(target.process)
        asyncio.run(measure(target, args))
    except RuntimeError as exc:
        print_failure("bench.stream_memory", exc, started)
        return 1
    finally:
        for process in reversed(started):
            process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
