"""``python -m bench`` (``make bench``): the gateway benchmark.

Starts the fake upstream (tests.fakes), the minimal forwarding proxy and our server side by side,
all pinned to one CPU, and drives them from another CPU with wrk (plain requests) and
bench.stream_client (server-sent event streams). Every scenario is checked once, warmed up, then
run ``--runs`` times, interleaving the targets so that background noise hits them alike. Prints
the tables and the targets, and writes everything to ``build/bench/results.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import mcp, profile, report
from bench.load import HttpRequest, LoadError, check_once, run_stream, run_wrk
from bench.processes import (
    ANTHROPIC_AGENT,
    ANTHROPIC_KEY,
    ANTHROPIC_MODEL,
    OPENAI_AGENT,
    OPENAI_KEY,
    OPENAI_MODEL,
    REPO_ROOT,
    Process,
    agent_server,
    cpu_seconds,
    fake_upstream,
    minimal_proxy,
    reset_fake,
    rss_bytes,
)

SYSTEM_PROMPT = "You are a concise assistant."
USER_MESSAGE = "Say hello to the benchmark."
# The first event carrying text, in each wire format (role chunks carry "content":"").
OPENAI_TEXT_EVENT = r'"content":"[^"]'
ANTHROPIC_TEXT_EVENT = r'"text_delta"'
SOAK_CONNECTIONS = 32
SOAK_CHUNK_SECONDS = 10.0
SOAK_FIRST_CHUNK_SECONDS = 2.0
PROFILED_SCENARIOS = (
    "openai c=32",
    "openai c=1",
    "openai stream c=1",
    "anthropic c=32",
    "health c=32",
    "agent run stream c=32",
    "mcp tools/call c=32",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    api: str  # "openai", "anthropic", "health" or one of bench.mcp.APIS
    stream: bool
    concurrency: int


SCENARIOS = [
    *(
        Scenario(f"{api} c={c}", api, False, c)
        for api in ("openai", "anthropic")
        for c in (1, 32, 64)
    ),
    *(
        Scenario(f"{api} stream c={c}", api, True, c)
        for api in ("openai", "anthropic")
        for c in (1, 16)
    ),
    *(Scenario(f"health c={c}", "health", False, c) for c in (1, 32)),
    # The OpenAI agent as an MCP tool and as a direct run (bench/mcp.py): our server only.
    *(
        Scenario(mcp.scenario_name(api, c), api, False, c)
        for api in mcp.APIS
        for c in mcp.CONCURRENCY
    ),
]


def write_bodies(directory: Path) -> dict[str, Path]:
    """The request bodies: provider-native for upstream and proxy, OpenAI-style for our server."""
    messages = [{"role": "user", "content": USER_MESSAGE}]
    bodies: dict[str, dict[str, Any]] = {}
    for stream in (False, True):
        suffix = "-stream" if stream else ""
        bodies[f"openai-direct{suffix}"] = {
            "model": OPENAI_MODEL,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, *messages],
            "max_tokens": 256,
            "stream": stream,
        }
        bodies[f"anthropic-direct{suffix}"] = {
            "model": ANTHROPIC_MODEL,
            "system": SYSTEM_PROMPT,
            "messages": messages,
            "max_tokens": 256,
            "stream": stream,
        }
        for api, agent in (("openai", OPENAI_AGENT), ("anthropic", ANTHROPIC_AGENT)):
            bodies[f"{api}-agent{suffix}"] = {
                "model": agent,
                "messages": messages,
                "stream": stream,
            }
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, body in bodies.items():
        paths[name] = directory / f"{name}.json"
        paths[name].write_text(json.dumps(body))
    return paths | mcp.write_bodies(directory, OPENAI_AGENT, USER_MESSAGE)


def requests_for(
    target: str, base_url: str, token: str | None, bodies: dict[str, Path]
) -> dict[str, HttpRequest]:
    """The request each scenario sends to ``target``; a scenario it cannot serve is left out."""
    requests = {}
    if target == report.SERVER:
        assert token is not None
        requests.update(mcp.requests(base_url, token, OPENAI_AGENT, bodies))
    for scenario in SCENARIOS:
        if scenario.api in mcp.APIS:
            continue
        suffix = "-stream" if scenario.stream else ""
        if scenario.api == "health":
            if target == report.UPSTREAM:
                continue  # the fake upstream has no health endpoint
            requests[scenario.name] = HttpRequest("GET", f"{base_url}/health/live", ())
            continue
        if target == report.SERVER:
            assert token is not None
            headers: tuple[tuple[str, str], ...] = (("Authorization", f"Bearer {token}"),)
            url = f"{base_url}/v1/chat/completions"
            body = bodies[f"{scenario.api}-agent{suffix}"]
            terminator, marker = "[DONE]", OPENAI_TEXT_EVENT
        elif scenario.api == "openai":
            headers = (("Authorization", f"Bearer {OPENAI_KEY}"),)
            url = f"{base_url}/v1/chat/completions"
            body = bodies[f"openai-direct{suffix}"]
            terminator, marker = "[DONE]", OPENAI_TEXT_EVENT
        else:
            headers = (("x-api-key", ANTHROPIC_KEY), ("anthropic-version", "2023-06-01"))
            url = f"{base_url}/v1/messages"
            body = bodies[f"anthropic-direct{suffix}"]
            terminator, marker = "message_stop", ANTHROPIC_TEXT_EVENT
        if scenario.stream:
            requests[scenario.name] = HttpRequest("POST", url, headers, body, terminator, marker)
        else:
            requests[scenario.name] = HttpRequest("POST", url, headers, body)
    return requests


def measure(request: HttpRequest, scenario: Scenario, duration: float, cpu: int) -> dict[str, Any]:
    if scenario.stream:
        result = run_stream(request, scenario.concurrency, duration, cpu)
        if result["errors"] or not result["requests"]:
            raise LoadError(
                f"{request.url}: {result['errors']} failed streams: {result['first_error']}"
            )
        return result
    result = run_wrk(request, scenario.concurrency, duration, cpu)
    if result["errors"]:
        raise LoadError(f"{request.url}: wrk saw errors {result['error_detail']}")
    return result


# Prometheus counters that prove the server did the real work: every request counted, every
# agent run recorded, every MCP tool call counted.
COUNTED_METRICS = ("http_requests_total", "agentsmcp_agent_runs_total", mcp.TOOL_CALLS_METRIC)


def server_counters(server: Process) -> dict[str, float]:
    """Totals of COUNTED_METRICS from the server's /metrics (summed over all label sets)."""
    url = f"{server.base_url}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback http URL)
        text = response.read().decode()
    totals = dict.fromkeys(COUNTED_METRICS, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def cpu_busy_percent(seconds: float = 1.0) -> dict[str, float]:
    """How busy each CPU was over ``seconds`` before we started: other work on the machine."""

    def sample() -> dict[str, tuple[int, int]]:
        values = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                numbers = [int(field) for field in fields]
                idle = numbers[3] + numbers[4]
                values[name] = (sum(numbers) - idle, sum(numbers))
        return values

    before = sample()
    time.sleep(seconds)
    after = sample()
    return {
        name: round(
            100 * (after[name][0] - before[name][0]) / max(1, after[name][1] - before[name][1]), 1
        )
        for name in after
    }


def machine_info() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "cpu_busy_before_percent": cpu_busy_percent(),
    }


def soak(
    server: Process, upstream: Process, request: HttpRequest, total: int, cpu: int
) -> dict[str, Any]:
    """Send ``total`` requests in wrk chunks, sampling the server's RSS after each chunk."""
    before = rss_bytes(server.pid)
    samples = [{"requests": 0, "rss_bytes": before}]
    sent = errors = 0
    rate = 0.0
    while sent < total:
        remaining = total - sent
        # The first short chunk measures the rate; later ones aim at what is left.
        chunk_seconds = (
            SOAK_FIRST_CHUNK_SECONDS if not rate else min(SOAK_CHUNK_SECONDS, remaining / rate)
        )
        result = run_wrk(request, SOAK_CONNECTIONS, max(1.0, chunk_seconds), cpu)
        sent += result["requests"]
        errors += result["errors"]
        rate = result["rps"]
        samples.append({"requests": sent, "rss_bytes": rss_bytes(server.pid)})
        reset_fake(upstream)
        print(
            f"  soak: {sent:,}/{total:,} requests, RSS {samples[-1]['rss_bytes'] / 2**20:.1f} MB",
            flush=True,
        )
    if errors:
        raise LoadError(f"soak: {errors} failed requests")
    after = samples[-1]["rss_bytes"]
    return {
        "requests": sent,
        "connections": SOAK_CONNECTIONS,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "growth_percent": 100 * (after - before) / before,
        "samples": samples,
    }


def profile_server(
    server: Process, requests: dict[str, HttpRequest], scenarios: list[Scenario], args: Any
) -> None:
    """Sample the server with py-spy during extra, unmeasured runs of the main scenarios."""
    for scenario in scenarios:
        if scenario.name not in PROFILED_SCENARIOS:
            continue
        slug = scenario.name.replace(" ", "_").replace("=", "").replace("/", "-")
        load = functools.partial(
            measure, requests[scenario.name], scenario, args.duration, args.client_cpu
        )
        stacks = profile.record(
            server.pid, args.out / "profiles" / f"{slug}.txt", args.duration, args.client_cpu, load
        )
        top = stacks.with_suffix(".top.txt")
        top.write_text(profile.summarize(stacks))
        print(f"bench: profile of {scenario.name}: {top}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (3)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run (3)")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="warm-up seconds per scenario (1)"
    )
    parser.add_argument("--soak-requests", type=int, default=100_000, help="0 skips the soak")
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=0.0,
        help="fake upstream seconds between streamed chunks",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="scenarios whose name contains TEXT",
    )
    parser.add_argument(
        "--without-server", action="store_true", help="measure only upstream and minimal proxy"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also record py-spy profiles of our server"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 run of 1 s, 1 s warm-up, 5,000-request soak",
    )
    parser.add_argument(
        "--server-module",
        default="app",
        help="module run as our server (python -m MODULE), for A/B runs of a patched build",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 1, 1.0, 1.0
        args.soak_requests = min(args.soak_requests, 5_000)
    return args


def preconditions(args: argparse.Namespace) -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"bench: missing tools {missing}: apt-get install wrk util-linux")
    usable = os.sched_getaffinity(0)
    if args.server_cpu == args.client_cpu or not {args.server_cpu, args.client_cpu} <= usable:
        sys.exit(
            f"bench: needs two distinct usable CPUs for servers ({args.server_cpu}) and load "
            f"({args.client_cpu}); this process may use {sorted(usable)}"
        )
    if args.profile:
        py_spy = Path(sys.executable).parent / "py-spy"
        os.environ["PATH"] = f"{py_spy.parent}{os.pathsep}{os.environ['PATH']}"
        if shutil.which("py-spy") is None:
            sys.exit("bench: --profile needs py-spy (pip install -r requirements-dev.txt)")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Unwinds through main's ``finally``, which stops every process the run started.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preconditions(args)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # The orchestrator mostly sleeps; keep it off the servers' CPU all the same.
    os.sched_setaffinity(0, {args.client_cpu})
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    scenarios = [s for s in SCENARIOS if not args.only or any(t in s.name for t in args.only)]
    machine = machine_info()
    bodies = write_bodies(out / "bodies")

    upstream = fake_upstream(out, args.server_cpu, args.chunk_delay)
    proxy = minimal_proxy(out, args.server_cpu, upstream)
    server = (
        None
        if args.without_server
        else agent_server(out, args.server_cpu, upstream, args.server_module)
    )
    started: list[Process] = []
    results: dict[str, Any] = {"machine": machine, "settings": vars(args) | {"out": str(out)}}
    try:
        for process in (upstream, proxy, *([server.process] if server else [])):
            process.start()
            started.append(process)
        targets = {
            report.UPSTREAM: requests_for(report.UPSTREAM, upstream.base_url, None, bodies),
            report.PROXY: requests_for(report.PROXY, proxy.base_url, None, bodies),
        }
        if server:
            targets[report.SERVER] = requests_for(
                report.SERVER, server.process.base_url, server.token, bodies
            )
        pids = {report.UPSTREAM: upstream.pid, report.PROXY: proxy.pid}
        if server:
            pids[report.SERVER] = server.process.pid
        time.sleep(1.0)
        rss: dict[str, Any] = {"minimal_proxy_idle_bytes": rss_bytes(proxy.pid)}
        if server:
            rss["idle_bytes"] = rss_bytes(server.process.pid)

        print(f"bench: checking and warming up {len(scenarios)} scenarios", flush=True)
        for scenario in scenarios:
            for requests in targets.values():
                if scenario.name in requests:
                    check_once(requests[scenario.name])
                    measure(requests[scenario.name], scenario, args.warmup, args.client_cpu)
            reset_fake(upstream)
        if server:
            rss["after_warmup_bytes"] = rss_bytes(server.process.pid)

        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for run in range(args.runs):
            for scenario in scenarios:
                for target, requests in targets.items():
                    if scenario.name not in requests:
                        continue
                    cpu_before = cpu_seconds(pids[target])
                    result = measure(
                        requests[scenario.name], scenario, args.duration, args.client_cpu
                    )
                    # CPU the target itself spent per request: robust to other load on the box.
                    spent = cpu_seconds(pids[target]) - cpu_before
                    result["cpu_us_per_request"] = 1e6 * spent / max(1, result["requests"])
                    runs.setdefault((target, scenario.name), []).append(result)
                    reset_fake(upstream)
                    latency = result.get("p50_ms", result.get("ttfb_p50_ms"))
                    print(
                        f"  run {run + 1}/{args.runs} {target:>13} {scenario.name:<22} "
                        f"{result['rps']:>9,.0f}/s  p50 {latency:.2f} ms  "
                        f"CPU {result['cpu_us_per_request']:,.0f} us/request",
                        flush=True,
                    )

        soak_result = None
        if server and args.soak_requests:
            print(f"bench: soak of {args.soak_requests:,} requests", flush=True)
            soak_result = soak(
                server.process,
                upstream,
                targets[report.SERVER]["openai c=32"],
                args.soak_requests,
                args.client_cpu,
            )
            rss["after_soak_bytes"] = soak_result["rss_after_bytes"]

        if server and args.profile:
            profile_server(server.process, targets[report.SERVER], scenarios, args)
        counters = None
        if server:
            counters = server_counters(server.process)
            # wrk counts HTTP statuses only; a failed tool call is a 200 with isError. Calls
            # "cancelled" are those wrk cut off at the end of each run.
            outcomes = mcp.tool_call_outcomes(server.process.base_url)
            failed = {k: v for k, v in outcomes.items() if k in ("tool_error", "error") and v}
            if failed:
                raise LoadError(f"MCP tool calls that did not succeed: {failed}")
    except (LoadError, RuntimeError) as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        for process in started:
            print(f"--- {process.name} log tail ---\n{process.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; stopping the processes it started", file=sys.stderr)
        return 130
    finally:
        for process in reversed(started):
            process.stop()

    machine["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    summaries: report.Summaries = {}
    for (target, name), target_runs in runs.items():
        scenario = next(s for s in SCENARIOS if s.name == name)
        metrics = report.STREAM_METRICS if scenario.stream else report.WRK_METRICS
        summaries[(target, name)] = report.summarize(target_runs, metrics)
    target_names = list(targets)
    plain = [s.name for s in scenarios if not s.stream and s.api not in mcp.APIS]
    streams = [s.name for s in scenarios if s.stream]
    apis = sorted({s.api for s in scenarios if s.api in ("openai", "anthropic")}, reverse=True)
    checks = report.check_targets(summaries, apis, rss if server else None, soak_result)
    log_lines = None
    if server:
        log_lines = sum(1 for _ in server.process.log_path.open("rb"))

    results["scenarios"] = [
        {
            "target": target,
            "scenario": name,
            "runs": target_runs,
            "summary": {k: v.as_dict() for k, v in summaries[(target, name)].items()},
        }
        for (target, name), target_runs in runs.items()
    ]
    results["rss"] = rss
    results["soak"] = soak_result
    results["targets"] = [check.as_dict() for check in checks]
    results["server_log_lines"] = log_lines
    results["server_counters"] = counters
    (out / "results.json").write_text(json.dumps(results, indent=2))

    text = [
        "",
        f"Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, Linux {machine['kernel']}, "
        f"Python {machine['python']}. "
        f"Servers on CPU {args.server_cpu}, load generators on CPU {args.client_cpu}.",
        f"Load average at start {' '.join(machine['loadavg_start'])}, at end "
        f"{' '.join(machine['loadavg_end'])}; CPU busy before start: "
        + ", ".join(f"{k} {v}%" for k, v in machine["cpu_busy_before_percent"].items()),
        f"Medians of {args.runs} runs of {args.duration:g} s (min-max in brackets); "
        f"fake upstream chunk delay {args.chunk_delay:g} s.",
        "",
    ]
    if plain:
        text += [report.plain_table(summaries, plain, target_names), ""]
    if streams:
        text += [report.stream_table(summaries, streams, target_names), ""]
    if server and any(s.api in mcp.APIS for s in scenarios):
        text += [
            "MCP tools/call against the direct agent run (POST /v1/agents/{name}/runs, plain "
            "and streamed) and the chat completion of the same agent, same upstream:",
            "",
            mcp.overhead_table(summaries),
            "",
        ]
    if server:
        text.append(
            f"RSS of agentsmcp: idle {rss['idle_bytes'] / 2**20:.1f} MB, after warm-up "
            f"{rss['after_warmup_bytes'] / 2**20:.1f} MB"
            + (
                f", soak {soak_result['rss_before_bytes'] / 2**20:.1f} → "
                f"{soak_result['rss_after_bytes'] / 2**20:.1f} MB "
                f"over {soak_result['requests']:,} requests"
                if soak_result
                else ""
            )
            + f" (minimal proxy idle {rss['minimal_proxy_idle_bytes'] / 2**20:.1f} MB). "
            f"{log_lines:,} JSON log lines written; /metrics counted "
            + ", ".join(f"{name} {value:,.0f}" for name, value in (counters or {}).items())
            + ".",
        )
        text += ["", report.targets_table(checks)]
    text.append(f"\nFull results: {out / 'results.json'}")
    (out / "summary.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
