"""``python -m bench.tracing`` (run by ``make bench``): what tracing costs per request.

Two copies of our server, identical but for the OpenTelemetry environment: ``off`` (none) and
``on`` (``OTEL_EXPORTER_OTLP_ENDPOINT`` at a local OTLP sink that answers every export with 200,
``OTEL_TRACES_SAMPLER=traceidratio`` at ``--ratio``, 1.0 by default: every request traced and
exported), side by side on the
server CPU with the fake upstream and the sink; wrk drives them from the other CPU, runs
interleaved. Scenarios: a non-streamed and a streamed OpenAI agent run
(``POST /v1/chat/completions``). Reports CPU per request of each and their ratio (the goal: at
most 1.10).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.load import HttpRequest, check_once, run_wrk
from bench.processes import REPO_ROOT, Process, agent_server, cpu_seconds, fake_upstream, free_port

CONNECTIONS = 8
MODES = ("off", "on")
SCENARIOS = ("run", "stream")
TARGET_RATIO = 1.10


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
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.runs, args.duration = 1, 2.0
    return args


def serve_sink(port: int) -> None:
    """The OTLP sink: every export accepted and dropped."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", accept)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def servers(out: Path, cpu: int, upstream: Process, sink: Process, ratio: float) -> dict[str, Any]:
    setups = {mode: agent_server(out / mode, cpu, upstream) for mode in MODES}
    setups["on"].process.env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.base_url,
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(ratio),
            "OTEL_SERVICE_NAME": "agentsmcp-bench",
        }
    )
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
        setups = servers(out, args.server_cpu, upstream, sink, args.ratio)
        for setup in setups.values():
            setup.process.start()
            processes.append(setup.process)
        requests = {m: requests_for(s.process.base_url, s.token, out) for m, s in setups.items()}
        for mode in MODES:
            for scenario, request in requests[mode].items():
                if scenario == "run":
                    check_once(request)  # JSON only: wrk counts a failed stream as an error
                run_wrk(request, CONNECTIONS, 1.0, args.client_cpu)  # warm-up
        for run in range(args.runs):
            for scenario in SCENARIOS:
                for mode in MODES:
                    process = setups[mode].process
                    before = cpu_seconds(process.pid)
                    result = run_wrk(
                        requests[mode][scenario], CONNECTIONS, args.duration, args.client_cpu
                    )
                    cpu_us = 1e6 * (cpu_seconds(process.pid) - before) / max(1, result["requests"])
                    results.setdefault((scenario, mode), []).append(cpu_us)
                    print(
                        f"  run {run + 1}/{args.runs} {scenario:<6} tracing {mode:<3} "
                        f"CPU {cpu_us:,.0f} us/req rps {result['rps']:,.0f} "
                        f"errors {result['errors']}",
                        flush=True,
                    )
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
        f"\nCPU per request, medians of {args.runs} runs of {args.duration:g} s, c={CONNECTIONS}:"
    )
    print(f"| scenario | tracing off | tracing on ({args.ratio:.0%}) | ratio |\n|---|---|---|---|")
    worst = 0.0
    for scenario in SCENARIOS:
        off = statistics.median(results[(scenario, "off")])
        on = statistics.median(results[(scenario, "on")])
        worst = max(worst, on / off)
        print(f"| {scenario} | {off:,.0f} us | {on:,.0f} us | {on / off:.2f} |")
    (out / "results.json").write_text(json.dumps({f"{k[0]} {k[1]}": v for k, v in results.items()}))
    print(f"\nworst ratio {worst:.2f} (goal: at most {TARGET_RATIO:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
