"""``python -m bench.streaming`` (run by ``make bench``): streaming capacity at agent scale.

Model tokens arrive tens of milliseconds apart, so agent traffic is many long streams in flight
at once. The fake upstream paces ``--chunks`` text chunks ``--chunk-delay`` seconds apart; the
minimal forwarding proxy and our server each get CPU 0 (one at a time, runs interleaved), the
fake upstream and the stream client share CPU 1. For each number of streams in flight
(``--streams``) the client keeps that many streams open back to back, after a ramp that opens
the connections, and reports per target:

- streams/s, time to first byte and to the first text token (p50, p99);
- the p99 gap between two chunks of one stream (a saturated target delivers late, then in a
  burst);
- CPU microseconds per streamed text chunk, from the target's own CPU time;
- the target's RSS at its peak during the run, and that peak over its RSS before any load, per
  1,000 streams.

``--slo-ms`` (250) is the service level that sizes ``server.max_inflight_runs``: the largest
number of streams in flight per CPU at which our TTFB p99 and gap p99 both stay under it.
Results go to ``build/bench/streaming.json`` and ``build/bench/streaming.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.load import HttpRequest, LoadError, check_once, run_stream
from bench.processes import (
    OPENAI_AGENT,
    OPENAI_KEY,
    OPENAI_MODEL,
    REPO_ROOT,
    Process,
    agent_server,
    cpu_seconds,
    fake_upstream,
    minimal_proxy,
    print_failure,
    reset_fake,
    rss_bytes,
)

OPENAI_TEXT_EVENT = r'"content":"[^"]'
DEFAULT_STREAMS = (100, 500, 1000, 2000)
# Far above any level, so that the bench measures capacity, not shedding.
BENCH_MAX_INFLIGHT_RUNS = 10_000
RSS_SAMPLE_SECONDS = 0.2


def write_bodies(directory: Path) -> dict[str, Path]:
    messages = [{"role": "user", "content": "Stream a long answer."}]
    bodies = {
        report.PROXY: {
            "model": OPENAI_MODEL,
            "messages": messages,
            "max_tokens": 256,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        report.SERVER: {"model": OPENAI_AGENT, "messages": messages, "stream": True},
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for target, body in bodies.items():
        paths[target] = directory / f"streaming-{target.replace(' ', '-')}.json"
        paths[target].write_text(json.dumps(body))
    return paths


def stream_request(target: str, base_url: str, token: str, body: Path) -> HttpRequest:
    key = token if target == report.SERVER else OPENAI_KEY
    return HttpRequest(
        "POST",
        f"{base_url}/v1/chat/completions",
        (("Authorization", f"Bearer {key}"),),
        body,
        "[DONE]",
        OPENAI_TEXT_EVENT,
    )


class PeakRss:
    """The highest RSS of a process, sampled in a thread while a run goes on."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self.peak = rss_bytes(pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, rss_bytes(self._pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    process: Process,
    request: HttpRequest,
    streams: int,
    args: argparse.Namespace,
    idle: int,
) -> dict[str, Any]:
    """One run at ``streams`` in flight; ``idle``: the target's RSS before any load (RSS does
    not go down after a peak, so a later level's start is no baseline)."""
    cpu_before = cpu_seconds(process.pid)
    with PeakRss(process.pid) as rss:
        result = run_stream(request, streams, args.duration, args.client_cpu, args.ramp)
    spent = cpu_seconds(process.pid) - cpu_before
    if result["errors"] or not result["requests"]:
        raise LoadError(
            f"{process.name} at {streams} streams: {result['errors']} failed streams: "
            f"{result['first_error']}"
        )
    chunks = result["streams_total"] * args.chunks
    result["cpu_us_per_chunk"] = 1e6 * spent / max(1, chunks)
    result["rss_idle_bytes"] = idle
    result["rss_peak_bytes"] = rss.peak
    result["rss_mb_per_1000_streams"] = (rss.peak - idle) / 2**20 * 1000 / streams
    result["cpu_busy_percent"] = 100 * spent / (args.ramp + result["elapsed_s"])
    return result


STREAM_METRICS = (
    "rps",
    "ttfb_p50_ms",
    "ttfb_p99_ms",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "gap_p99_ms",
    "cpu_us_per_chunk",
    "rss_peak_bytes",
    "rss_mb_per_1000_streams",
    "cpu_busy_percent",
)


def table(summaries: dict[tuple[str, int], dict[str, report.Spread]], levels: list[int]) -> str:
    lines = [
        "| streams in flight | target | streams/s | TTFB p50 / p99 ms | first token p50 / p99 ms "
        "| gap p99 ms | CPU us/chunk | CPU busy | RSS peak MB | RSS MB per 1,000 streams "
        "| CPU/chunk vs proxy | TTFB p99 vs proxy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in levels:
        proxy = summaries.get((report.PROXY, level))
        for target in (report.PROXY, report.SERVER):
            own = summaries.get((target, level))
            if own is None:
                continue
            m = {name: spread.median for name, spread in own.items()}
            vs_cpu = vs_ttfb = "-"
            if proxy is not None and target != report.PROXY:
                vs_cpu = f"{m['cpu_us_per_chunk'] / proxy['cpu_us_per_chunk'].median:.2f}x"
                vs_ttfb = f"{m['ttfb_p99_ms'] / proxy['ttfb_p99_ms'].median:.2f}x"
            lines.append(
                f"| {level:,} | {target} | {m['rps']:,.0f} "
                f"| {m['ttfb_p50_ms']:,.1f} / {m['ttfb_p99_ms']:,.1f} "
                f"| {m['ttft_p50_ms']:,.1f} / {m['ttft_p99_ms']:,.1f} | {m['gap_p99_ms']:,.1f} "
                f"| {m['cpu_us_per_chunk']:,.1f} | {m['cpu_busy_percent']:.0f}% "
                f"| {m['rss_peak_bytes'] / 2**20:,.0f} | {m['rss_mb_per_1000_streams']:,.1f} "
                f"| {vs_cpu} | {vs_ttfb} |"
            )
    return "\n".join(lines)


def sized_limit(
    summaries: dict[tuple[str, int], dict[str, report.Spread]], levels: list[int], slo_ms: float
) -> int | None:
    """The most streams in flight (on one CPU) at which our TTFB p99 and gap p99 meet the SLO."""
    within = [
        level
        for level in levels
        if (own := summaries.get((report.SERVER, level))) is not None
        and own["ttfb_p99_ms"].median <= slo_ms
        and own["gap_p99_ms"].median <= slo_ms
    ]
    return max(within) if within else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.streaming", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--streams",
        type=int,
        action="append",
        default=[],
        help="streams in flight; repeat for several levels (100, 500, 1000, 2000)",
    )
    parser.add_argument("--chunks", type=int, default=20, help="text chunks per stream (20)")
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds apart (0.02)")
    parser.add_argument("--runs", type=int, default=2, help="measured runs per level (2)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured (5)")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds opening streams (2)")
    parser.add_argument("--slo-ms", type=float, default=250.0, help="TTFB/gap p99 SLO (250)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 and 500, 1 run")
    parser.add_argument("--without-proxy", action="store_true", help="measure only our server")
    parser.add_argument(
        "--server-module", default="app", help="module run as our server, for A/B runs"
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    if args.quick:
        args.streams = args.streams or [100, 500]
        args.runs, args.duration, args.ramp = 1, 2.0, 1.0
    args.streams = sorted(set(args.streams or DEFAULT_STREAMS))
    return args


def run_levels(
    upstream: Process, targets: dict[str, tuple[Process, HttpRequest]], args: argparse.Namespace
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    idle = {target: rss_bytes(process.pid) for target, (process, _) in targets.items()}
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for level in args.streams:
        for _ in range(args.runs):
            for target, (process, request) in targets.items():
                result = measure(process, request, level, args, idle[target])
                reset_fake(upstream)
                runs.setdefault((target, level), []).append(result)
                print(
                    f"  {level:>5} streams  {target:<13} {result['rps']:8,.0f} streams/s  "
                    f"TTFB p99 {result['ttfb_p99_ms']:8.1f} ms  gap p99 "
                    f"{result['gap_p99_ms']:7.1f} ms  {result['cpu_us_per_chunk']:6.1f} us/chunk"
                    f"  RSS {result['rss_peak_bytes'] / 2**20:5.0f} MB",
                    flush=True,
                )
    return runs


def write_report(
    runs: dict[tuple[str, int], list[dict[str, Any]]], args: argparse.Namespace
) -> str:
    summaries = {key: report.summarize(values, STREAM_METRICS) for key, values in runs.items()}
    limit = sized_limit(summaries, args.streams, args.slo_ms)
    text = [
        f"Streaming capacity: {args.chunks} chunks {args.chunk_delay * 1000:g} ms apart, medians "
        f"of {args.runs} runs of {args.duration:g} s after a {args.ramp:g} s ramp; targets on CPU "
        f"{args.server_cpu}, fake upstream and client on CPU {args.client_cpu}. Load average "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}.",
        "",
        table(summaries, args.streams),
        "",
        f"Streams in flight on one CPU within TTFB p99 and gap p99 <= {args.slo_ms:g} ms: "
        + (f"{limit:,} (of the levels measured)." if limit else "none of the levels measured."),
    ]
    results = {
        "settings": vars(args) | {"out": str(args.out)},
        "runs": [
            {"target": target, "streams": level, "runs": values}
            for (target, level), values in runs.items()
        ],
        "sized_max_inflight_per_cpu": limit,
    }
    (args.out / "streaming.json").write_text(json.dumps(results, indent=2))
    (args.out / "streaming.md").write_text("\n".join(text) + "\n")
    return "\n".join(text)


def start_targets(
    args: argparse.Namespace, started: list[Process]
) -> tuple[Process, dict[str, tuple[Process, HttpRequest]]]:
    """The fake upstream, and the targets with the request each is sent, checked once."""
    out: Path = args.out
    upstream = fake_upstream(out, args.client_cpu, args.chunk_delay, args.chunks)
    upstream.start()
    started.append(upstream)
    bodies = write_bodies(out / "bodies")
    server = agent_server(
        out,
        args.server_cpu,
        upstream,
        args.server_module,
        {"max_inflight_runs": BENCH_MAX_INFLIGHT_RUNS},
    )
    targets: dict[str, tuple[Process, HttpRequest]] = {}
    if not args.without_proxy:
        proxy = minimal_proxy(out, args.server_cpu, upstream)
        proxy.start()
        started.append(proxy)
        targets[report.PROXY] = (
            proxy,
            stream_request(report.PROXY, proxy.base_url, "", bodies[report.PROXY]),
        )
    server.process.start()
    started.append(server.process)
    targets[report.SERVER] = (
        server.process,
        stream_request(report.SERVER, server.process.base_url, server.token, bodies[report.SERVER]),
    )
    for _, request in targets.values():
        check_once(request)
    return upstream, targets


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.sched_setaffinity(0, {args.client_cpu})
    args.out.mkdir(parents=True, exist_ok=True)
    started: list[Process] = []
    try:
        upstream, targets = start_targets(args, started)
        time.sleep(1.0)
        print(f"bench.streaming: {args.streams} streams in flight", flush=True)
        runs = run_levels(upstream, targets, args)
    except (LoadError, RuntimeError) as exc:
        print_failure("bench.streaming", exc, started)
        return 1
    finally:
        for process in reversed(started):
            process.stop()
    print(write_report(runs, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
