"""``python -m bench.paired_streams --tree A --tree B``: CPU per streamed chunk of two checkouts of
this repository, side by side.

Both servers run at once on the same CPU (``--server-cpu``), each with its own stream client on
the other CPU, against one fake upstream pacing 20 chunks 20 ms apart. Whatever else the
machine does weighs on both alike, so the ratio of their CPU per chunk holds where figures from
runs one after the other move by 5-10% (bench/FINDINGS.md, section 14). ``--tree`` is a checkout
of this repository (``git worktree add --detach /tmp/base <commit>``); the last tree's figure is
divided by the first's. A warm-up round comes first and is not reported.
"""

from __future__ import annotations

import argparse
import statistics
import threading
from pathlib import Path
from typing import Any

from bench import processes, report
from bench.load import HttpRequest, run_stream
from bench.streaming import BENCH_MAX_INFLIGHT_RUNS, stream_request, write_bodies

CHUNKS = 20
WARM_UP_SECONDS = 2.0
RAMP_SECONDS = 2.0


def start_servers(
    trees: list[Path], out: Path, server_cpu: int, upstream: processes.Process
) -> list[processes.ServerSetup]:
    servers = []
    for index, tree in enumerate(trees):
        setup = processes.agent_server(
            out / f"server-{index}",
            server_cpu,
            upstream,
            server_settings={"max_inflight_runs": BENCH_MAX_INFLIGHT_RUNS},
            checkout=tree,
        )
        servers.append(setup)
        setup.process.start()
    return servers


def one_round(
    servers: list[processes.ServerSetup],
    requests: list[HttpRequest],
    args: argparse.Namespace,
    seconds: float,
) -> list[dict[str, Any]]:
    """Every server under its own stream client at the same time; each result gets its server's
    CPU microseconds per chunk."""
    results: list[dict[str, Any]] = [{} for _ in servers]

    def drive(index: int) -> None:
        pid = servers[index].process.pid
        before = processes.cpu_seconds(pid)
        result = run_stream(requests[index], args.streams, seconds, args.client_cpu, RAMP_SECONDS)
        spent = processes.cpu_seconds(pid) - before
        result["cpu_us_per_chunk"] = 1e6 * spent / max(1, result["streams_total"] * CHUNKS)
        results[index] = result

    threads = [threading.Thread(target=drive, args=(index,)) for index in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def describe(tree: Path, result: dict[str, Any]) -> str:
    return (
        f"{tree}: {result['cpu_us_per_chunk']:.1f} us/chunk, {result['rps']:.0f} streams/s, "
        f"TTFB p99 {result['ttfb_p99_ms']:.0f} ms, gap p99 {result['gap_p99_ms']:.0f} ms, "
        f"{result['errors']} errors"
    )


def compare(args: argparse.Namespace) -> list[float]:
    out: Path = args.out
    upstream = processes.fake_upstream(out / "upstream", args.client_cpu, 0.02, CHUNKS)
    upstream.start()
    servers: list[processes.ServerSetup] = []
    try:
        servers = start_servers(args.tree, out, args.server_cpu, upstream)
        body = write_bodies(out / "bodies")[report.SERVER]
        requests = [
            stream_request(report.SERVER, setup.process.base_url, setup.token, body)
            for setup in servers
        ]
        one_round(servers, requests, args, WARM_UP_SECONDS)
        ratios = []
        for number in range(1, args.rounds + 1):
            results = one_round(servers, requests, args, args.duration)
            ratio = results[-1]["cpu_us_per_chunk"] / results[0]["cpu_us_per_chunk"]
            ratios.append(ratio)
            lines = "; ".join(describe(t, r) for t, r in zip(args.tree, results, strict=True))
            print(f"round {number}: {lines}; ratio {ratio:.3f}", flush=True)
        return ratios
    finally:
        for setup in servers:
            setup.process.stop()
        upstream.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a checkout")
    parser.add_argument("--streams", type=int, default=150, help="streams in flight per server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round (5)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=processes.REPO_ROOT / "build" / "bench" / "paired"
    )
    args = parser.parse_args(argv)
    if len(args.tree) < 2:
        parser.error("give two --tree checkouts (or more; each is compared with the first)")
    ratios = compare(args)
    print(f"median ratio, last tree against the first: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
