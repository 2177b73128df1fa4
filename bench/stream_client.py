"""Streaming load generator: time to first byte and total time of server-sent event responses.

``concurrency`` workers share one keep-alive ClientSession and POST the same body back to back
for ``duration`` seconds. Each response must be 200 and end with the stream's terminator (for
example ``data: [DONE]``), otherwise it counts as an error. Prints one JSON object on stdout.

Time to first byte is measured from just before the request is sent to the first body chunk,
so it includes the upstream's first event travelling through the target. Time to first token is
measured to the first chunk matching ``--token-marker`` (the first event that carries text): a
target may send its headers and an empty role chunk earlier or later than another. The gap
between chunks is the time between two reads of one stream's body after its first byte: a
saturated target delivers a paced stream late, then in a burst.

With ``--ramp S`` the workers start spread over the first S seconds, and only streams that start
after it are measured (the connections are open by then); ``streams_total`` counts them all.

    python -m bench.stream_client --url URL --body-file F --terminator '[DONE]' \
        --token-marker '"content":"[^"]' --concurrency 16 --duration 5 \
        [--header 'Authorization: Bearer ...']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field

import aiohttp

# Bytes kept from the end of a stream to look for its terminator.
TAIL_BYTES = 256
# Both the OpenAI-style final error chunk and Anthropic's error event carry this.
ERROR_MARKER = b'"error"'


@dataclass
class StreamSamples:
    ttfb_seconds: list[float] = field(default_factory=list)
    ttft_seconds: list[float] = field(default_factory=list)
    total_seconds: list[float] = field(default_factory=list)
    gap_seconds: list[float] = field(default_factory=list)
    # Streams that completed, measured or not (during the ramp).
    streams_total: int = 0
    errors: int = 0
    first_error: str | None = None

    def fail(self, reason: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = reason


async def stream_once(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    terminator: bytes,
    token_marker: re.Pattern[bytes],
    samples: StreamSamples,
    measured: bool = True,
) -> None:
    started = time.perf_counter()
    first_byte: float | None = None
    first_token: float | None = None
    last_read = 0.0
    gaps: list[float] = []
    tail = b""
    try:
        async with session.post(url, data=body, headers=headers) as response:
            async for chunk in response.content.iter_any():
                now = time.perf_counter()
                if first_byte is None:
                    first_byte = now
                else:
                    gaps.append(now - last_read)
                last_read = now
                # Search the tail too: a marker may straddle two chunks.
                if first_token is None and token_marker.search(tail[-64:] + chunk):
                    first_token = time.perf_counter()
                tail = (tail + chunk)[-TAIL_BYTES:]
            finished = time.perf_counter()
            if response.status != 200:
                samples.fail(f"HTTP {response.status}: {tail.decode(errors='replace')[:200]}")
                return
    except (aiohttp.ClientError, TimeoutError) as exc:
        samples.fail(f"{type(exc).__name__}: {exc}")
        return
    if first_byte is None or terminator not in tail or ERROR_MARKER in tail:
        samples.fail(
            f"stream did not end cleanly with {terminator!r}: ...{tail.decode(errors='replace')}"
        )
        return
    if first_token is None:
        samples.fail(f"stream carried no text matching {token_marker.pattern!r}")
        return
    samples.streams_total += 1
    if not measured:
        return
    samples.gap_seconds.extend(gaps)
    samples.ttfb_seconds.append(first_byte - started)
    samples.ttft_seconds.append(first_token - started)
    samples.total_seconds.append(finished - started)


async def run_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    terminator: bytes,
    token_marker: re.Pattern[bytes],
    concurrency: int,
    duration: float,
    ramp: float = 0.0,
) -> dict[str, object]:
    samples = StreamSamples()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        measure_from = started + ramp
        deadline = measure_from + duration

        async def worker(index: int) -> None:
            await asyncio.sleep(ramp * index / concurrency)
            while (now := time.perf_counter()) < deadline:
                await stream_once(
                    session,
                    url,
                    body,
                    headers,
                    terminator,
                    token_marker,
                    samples,
                    measured=now >= measure_from,
                )

        await asyncio.gather(*(worker(index) for index in range(concurrency)))
        elapsed = time.perf_counter() - max(started, measure_from)
    return summarize(samples, elapsed)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize(samples: StreamSamples, elapsed: float) -> dict[str, object]:
    completed = len(samples.total_seconds)
    result: dict[str, object] = {
        "requests": completed,
        "errors": samples.errors,
        "first_error": samples.first_error,
        "elapsed_s": elapsed,
        "rps": completed / elapsed if elapsed else 0.0,
        "streams_total": samples.streams_total,
    }
    if completed:
        for name, values in (
            ("ttfb", samples.ttfb_seconds),
            ("ttft", samples.ttft_seconds),
            ("total", samples.total_seconds),
        ):
            result[f"{name}_p50_ms"] = statistics.median(values) * 1000
            result[f"{name}_p99_ms"] = percentile(values, 0.99) * 1000
    if samples.gap_seconds:
        result["gap_p50_ms"] = statistics.median(samples.gap_seconds) * 1000
        result["gap_p99_ms"] = percentile(samples.gap_seconds, 0.99) * 1000
    return result


def parse_header(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":")
    if not separator or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--terminator", required=True, help="text the stream must end with")
    parser.add_argument(
        "--token-marker", required=True, help="regular expression matching the first text event"
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="seconds to start the workers over, not measured"
    )
    parser.add_argument("--header", type=parse_header, action="append", default=[])
    args = parser.parse_args(argv)
    with open(args.body_file, "rb") as body_file:
        body = body_file.read()
    headers = {"Content-Type": "application/json", **dict(args.header)}
    result = asyncio.run(
        run_load(
            args.url,
            body,
            headers,
            args.terminator.encode(),
            re.compile(args.token_marker.encode()),
            args.concurrency,
            args.duration,
            args.ramp,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
