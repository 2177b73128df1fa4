"""``python -m bench.tracing`` (run by ``make bench``): what tracing costs per request.

Copies of our server, identical but for the OpenTelemetry environment: ``off`` (none) and ``on``
(``OTEL_EXPORTER_OTLP_ENDPOINT`` at a local OTLP sink that answers every export with 200,
``OTEL_TRACES_SAMPLER=traceidratio`` at ``--ratio``, 1.0 by default: every request traced and
exported), all on the server CPU with the fake upstream and the sink. Each gets its own wrk on
the other CPU, and all run at the same time, so whatever else the machine does weighs on each
alike: runs one after the other moved the ratio by 0.1 to 0.25 on this shared machine
(bench/FINDINGS.md, section 12). Scenarios: a non-streamed and a streamed OpenAI agent run
(``POST /v1/chat/completions``). Reports CPU per request of each and their ratio (the goal: at
most 1.10).

``--tree`` (repeatable) compares checkouts of this repository: one ``off`` server from the first,
one ``on`` server from each, all at once; each tree's ``on`` is divided by the same ``off``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.load import HttpRequest, check_once, run_wrk
from bench.processes import (
    REPO_ROOT,
    Process,
    ServerSetup,
    agent_server,
    cpu_seconds,
    fake_upstream,
    free_port,
)

CONNECTIONS = 8
SCENARIOS = ("run", "stream")
TARGET_RATIO = 1.10
OFF = "off"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench")
    parser.add_argument("--quick", action="store_true", help="one short run (a smoke test)")
    parser.add_argument(
        "--ratio", type=float, default=1.0, help="share of requests traced when on (1.0)"
    )
    parser.add_argument(
        "--tree", type=Path, action="append", help="a checkout to run traced (default: this one)"
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.runs, args.duration = 1, 2.0
    args.tree = args.tree or [REPO_ROOT]
    return args


def serve_sink(port: int) -> None:
    """The OTLP sink: every export accepted and dropped."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", accept)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def traced_name(trees: list[Path], index: int) -> str:
    return "on" if len(trees) == 1 else f"on ({trees[index]})"


def servers(
    args: argparse.Namespace, out: Path, upstream: Process, sink: Process
) -> dict[str, ServerSetup]:
    """The untraced server from the first tree, then a traced one from each tree."""
    setups = {OFF: agent_server(out / OFF, args.server_cpu, upstream, checkout=args.tree[0])}
    for index, tree in enumerate(args.tree):
        traced = agent_server(out / f"on-{index}", args.server_cpu, upstream, checkout=tree)
        traced.process.env.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.base_url,
                "OTEL_TRACES_SAMPLER": "traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": str(args.ratio),
                "OTEL_SERVICE_NAME": "agentsmcp-bench",
            }
        )
        setups[traced_name(args.tree, index)] = traced
    return setups


def requests_for(base_url: str, token: str, out: Path) -> dict[str, HttpRequest]:
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    found: dict[str, HttpRequest] = {}
    for scenario in SCENARIOS:
        body = out / f"{scenario}.json"
        messages = [{"role": "user", "content": "Say hello."}]
        body.write_text(
            json.dumps(
                {"model": "bench-openai", "messages": messages, "stream": scenario == "stream"}
            )
        )
        found[scenario] = HttpRequest("POST", f"{base_url}/v1/chat/completions", headers, body)
    return found


def run_together(
    requests: dict[str, HttpRequest], pids: dict[str, int], duration: float, cpu: int
) -> dict[str, dict[str, Any]]:
    """One wrk per server, all at once; each result gets its server's CPU us per request."""
    results: dict[str, dict[str, Any]] = {}

    def drive(name: str) -> None:
        before = cpu_seconds(pids[name])
        result = run_wrk(requests[name], CONNECTIONS, duration, cpu)
        spent = cpu_seconds(pids[name]) - before
        result["cpu_us"] = 1e6 * spent / max(1, result["requests"])
        results[name] = result

    threads = [threading.Thread(target=drive, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(results) != len(requests):
        raise RuntimeError("a load generator failed; see the lines above")
    return results


def measure(args: argparse.Namespace, out: Path) -> dict[tuple[str, str], list[float]]:
    upstream = fake_upstream(out, args.server_cpu, 0.0)
    port = free_port()
    sink = Process(
        "otlp sink",
        [sys.executable, "-m", "bench.tracing", "--sink", str(port)],
        port,
        out / "sink.log",
        args.server_cpu,
    )
    processes = [upstream, sink]
    results: dict[tuple[str, str], list[float]] = {}
    try:
        upstream.start()
        sink.start()
        setups = servers(args, out, upstream, sink)
        for setup in setups.values():
            setup.process.start()
            processes.append(setup.process)
        requests = {m: requests_for(s.process.base_url, s.token, out) for m, s in setups.items()}
        pids = {name: setup.process.pid for name, setup in setups.items()}
        for scenario in SCENARIOS:
            if scenario == "run":
                for per_scenario in requests.values():
                    check_once(per_scenario[scenario])  # JSON only: wrk counts a failed stream
            by_server = {name: each[scenario] for name, each in requests.items()}
            run_together(by_server, pids, 1.0, args.client_cpu)  # warm-up
        for run in range(args.runs):
            for scenario in SCENARIOS:
                by_server = {
                    name: per_scenario[scenario] for name, per_scenario in requests.items()
                }
                measured = run_together(by_server, pids, args.duration, args.client_cpu)
                for name, result in measured.items():
                    results.setdefault((scenario, name), []).append(result["cpu_us"])
                    print(
                        f"  run {run + 1}/{args.runs} {scenario:<6} tracing {name:<3} "
                        f"CPU {result['cpu_us']:,.0f} us/req rps {result['rps']:,.0f} "
                        f"errors {result['errors']}",
                        flush=True,
                    )
                off = measured[OFF]["cpu_us"]
                ratios = ", ".join(
                    f"{name} {result['cpu_us'] / off:.3f}"
                    for name, result in measured.items()
                    if name != OFF
                )
                print(f"  run {run + 1}/{args.runs} {scenario:<6} ratio {ratios}", flush=True)
    finally:
        for process in reversed(processes):
            process.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sink is not None:
        serve_sink(args.sink)
        return 0
    os.sched_setaffinity(0, {args.client_cpu})
    out: Path = args.out / "tracing"
    out.mkdir(parents=True, exist_ok=True)
    results = measure(args, out)
    print(
        f"\nCPU per request, medians of {args.runs} runs of {args.duration:g} s, c={CONNECTIONS} "
        "each, all servers at once; the ratio is the median of each run's:"
    )
    print(f"| scenario | server | tracing off | tracing on ({args.ratio:.0%}) | ratio |")
    print("|---|---|---|---|---|")
    worst = 0.0
    traced = [traced_name(args.tree, index) for index in range(len(args.tree))]
    for scenario in SCENARIOS:
        off = results[(scenario, OFF)]
        for name in traced:
            on = results[(scenario, name)]
            ratio = statistics.median(o / f for o, f in zip(on, off, strict=True))
            worst = max(worst, ratio) if name == traced[-1] else worst
            print(
                f"| {scenario} | {name} | {statistics.median(off):,.0f} us "
                f"| {statistics.median(on):,.0f} us | {ratio:.2f} |"
            )
    (out / "results.json").write_text(json.dumps({f"{k[0]} {k[1]}": v for k, v in results.items()}))
    print(f"\nworst ratio {worst:.2f} (goal: at most {TARGET_RATIO:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
