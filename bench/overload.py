"""``python -m bench.overload`` (part of ``make bench``): overload shedding and worker count.

Overload: our server with ``server.max_inflight_runs = LIMIT`` and an upstream that takes about a
second per answer (like an LLM), driven by 4 x LIMIT clients that send chat completions (half of
them streamed) back to back for ``--duration`` seconds, while a prober GETs ``/health/live`` every
50 ms from its own process. Clients that get 503 wait its ``Retry-After``, as the official SDKs
do, then try again. Checked: excess requests get 503 ``server_overloaded`` quickly (p99 within
50 ms once every connection is open, after a 2 s warm-up), every admitted request completes with
its full text, ``/health/live`` answers within 100 ms throughout, the server never exceeds its
limit and is still running at the end. The same load then runs against a limit 4 x higher (no
shedding), for a side-by-side comparison.

Workers: the same server, allowed on every CPU, under CPU-bound load (fast upstream, 64
connections): how many CPU-seconds per second one process can use. That decides whether a pod
should run more than one worker process (bench/FINDINGS.md).

Results go to ``build/bench/overload.json``; the exit status is 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import HttpRequest, run_wrk
from bench.processes import (
    OPENAI_AGENT,
    REPO_ROOT,
    Process,
    agent_server,
    cpu_seconds,
    fake_upstream,
)

LIVE_BUDGET_MS = 100.0
SHED_BUDGET_MS = 50.0
PROBE_INTERVAL = 0.05
SHED_PAUSE = 1.0
WARMUP_SECONDS = 2.0
EXPECTED_TEXT = "Hello, world!"
MESSAGES = [{"role": "user", "content": "Say hello to the benchmark."}]


@dataclass
class Tally:
    admitted_ok: int = 0
    admitted_failed: list[str] = field(default_factory=list)
    shed_ms: list[float] = field(default_factory=list)
    shed: int = 0
    other: list[str] = field(default_factory=list)
    ok_ms: list[float] = field(default_factory=list)
    live_ms: list[float] = field(default_factory=list)
    live_failed: int = 0
    max_in_flight: float = 0.0


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def put_default(upstream: Process, behavior: dict[str, Any]) -> None:
    prepared = urllib.request.Request(  # noqa: S310 (loopback http URL)
        f"{upstream.base_url}/_fake/openai/default",
        data=json.dumps(behavior).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(prepared, timeout=10):  # noqa: S310
        pass


async def client_loop(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    stream: bool,
    until: float,
    steady: float,
    tally: Tally,
) -> None:
    body = {"model": OPENAI_AGENT, "messages": MESSAGES, "stream": stream}
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            async with session.post(url, json=body, headers=headers) as response:
                payload = await response.text()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status == 503 and "server_overloaded" in payload:
                    if time.monotonic() >= steady:
                        tally.shed_ms.append(elapsed)
                    tally.shed += 1
                    # As the official SDKs do: wait Retry-After, then try again.
                    await asyncio.sleep(float(response.headers.get("Retry-After", SHED_PAUSE)))
                    continue
                if response.status != 200:
                    tally.admitted_failed.append(f"HTTP {response.status}: {payload[:200]}")
                    continue
                if stream:
                    text = "".join(
                        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                        for line in payload.splitlines()
                        if line.startswith("data: {") and '"choices":[{' in line
                    )
                    complete = (
                        payload.rstrip().endswith("data: [DONE]") and '"error"' not in payload
                    )
                else:
                    text = json.loads(payload)["choices"][0]["message"]["content"]
                    complete = True
                if complete and text == EXPECTED_TEXT:
                    tally.admitted_ok += 1
                    if time.monotonic() >= steady:
                        tally.ok_ms.append(elapsed)
                else:
                    tally.admitted_failed.append(f"incomplete answer: {payload[-200:]}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.other.append(f"{type(exc).__name__}: {exc}")


async def probe_live(base: str, seconds: float) -> dict[str, Any]:
    """The prober, in its own process so the load generator's busy loop cannot delay it."""
    tally = Tally()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await prober(session, base, time.monotonic() + seconds, tally)
    return {"live_ms": tally.live_ms, "live_failed": tally.live_failed}


async def prober(session: aiohttp.ClientSession, base: str, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            async with session.get(f"{base}/health/live") as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        elapsed = (time.perf_counter() - started) * 1000
        if ok:
            tally.live_ms.append(elapsed)
        else:
            tally.live_failed += 1
        await asyncio.sleep(PROBE_INTERVAL)


async def gauge_watch(
    session: aiohttp.ClientSession, base: str, until: float, tally: Tally
) -> None:
    while time.monotonic() < until:
        async with session.get(f"{base}/metrics") as response:
            for line in (await response.text()).splitlines():
                if line.startswith("agentsmcp_agent_requests_in_flight "):
                    tally.max_in_flight = max(tally.max_in_flight, float(line.split()[1]))
        await asyncio.sleep(0.25)


async def drive(base: str, token: str, clients: int, duration: float, cpu: int) -> Tally:
    tally = Tally()
    probe = await asyncio.create_subprocess_exec(
        *("taskset", "--cpu-list", str(cpu), sys.executable, "-m", "bench.overload"),
        *("--probe", base, "--duration", f"{duration:g}"),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    until = time.monotonic() + duration
    # Latencies of the first seconds include opening every client connection at once.
    steady = time.monotonic() + WARMUP_SECONDS
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        aiohttp.ClientSession(timeout=timeout) as probe_session,
    ):
        url = f"{base}/v1/chat/completions"
        await asyncio.gather(
            *(
                client_loop(session, url, token, i % 2 == 1, until, steady, tally)
                for i in range(clients)
            ),
            gauge_watch(probe_session, base, until, tally),
        )
    output, _ = await probe.communicate()
    probed = json.loads(output)
    tally.live_ms, tally.live_failed = probed["live_ms"], probed["live_failed"]
    return tally


def overload(args: argparse.Namespace, out: Path, limit: int) -> dict[str, Any]:
    """4 x ``args.limit`` clients against a server admitting ``limit`` runs at once."""
    clients = 4 * args.limit
    upstream = fake_upstream(out, args.server_cpu, 0.0)
    server = agent_server(
        out, args.server_cpu, upstream, server_settings={"max_inflight_runs": limit}
    )
    started: list[Process] = []
    try:
        for process in (upstream, server.process):
            process.start()
            started.append(process)
        # About one second per answer, as an LLM: headers after 0.6 s, four chunks 0.1 s apart.
        put_default(upstream, {"header_delay": 0.6, "chunk_delay": 0.1})
        cpu_before = cpu_seconds(server.process.pid)
        wall = time.monotonic()
        tally = asyncio.run(
            drive(server.process.base_url, server.token, clients, args.duration, args.probe_cpu)
        )
        wall = time.monotonic() - wall
        cpu_used = cpu_seconds(server.process.pid) - cpu_before
        alive = server.process._popen is not None and server.process._popen.poll() is None
    finally:
        for process in reversed(started):
            process.stop()
    result = {
        "limit": limit,
        "clients": clients,
        "duration_s": args.duration,
        "admitted_ok": tally.admitted_ok,
        "admitted_failed": len(tally.admitted_failed),
        "admitted_failures": tally.admitted_failed[:5],
        "client_errors": tally.other[:5],
        "ok_p50_ms": quantile(tally.ok_ms, 0.5),
        "shed": tally.shed,
        "shed_p50_ms": quantile(tally.shed_ms, 0.5),
        "shed_p99_ms": quantile(tally.shed_ms, 0.99),
        "shed_max_ms": max(tally.shed_ms, default=float("nan")),
        "live_probes": len(tally.live_ms),
        "live_failed": tally.live_failed,
        "live_p50_ms": quantile(tally.live_ms, 0.5),
        "live_p99_ms": quantile(tally.live_ms, 0.99),
        "live_max_ms": max(tally.live_ms, default=float("nan")),
        "max_in_flight_seen": tally.max_in_flight,
        "server_cpu_per_second": cpu_used / wall,
        "server_alive": alive,
    }
    result["checks"] = {
        "excess requests were shed": result["shed"] > 0,
        f"shed p99 <= {SHED_BUDGET_MS:g} ms": result["shed_p99_ms"] <= SHED_BUDGET_MS,
        "every admitted request completed": result["admitted_failed"] == 0
        and not tally.other
        and result["admitted_ok"] > 0,
        f"/health/live always 200 within {LIVE_BUDGET_MS:g} ms": result["live_failed"] == 0
        and result["live_max_ms"] <= LIVE_BUDGET_MS,
        "in flight never above the limit": result["max_in_flight_seen"] <= limit,
        "server still running": alive,
    }
    return result


def workers(args: argparse.Namespace, out: Path, all_cpus: str) -> dict[str, Any]:
    """CPU one server process uses when it may run on every CPU and has more work than it can do."""
    upstream = fake_upstream(out, args.server_cpu, 0.0)
    server = agent_server(out, all_cpus, upstream)
    started: list[Process] = []
    try:
        for process in (upstream, server.process):
            process.start()
            started.append(process)
        body = out / "bodies" / "overload-openai.json"
        body.parent.mkdir(parents=True, exist_ok=True)
        body.write_text(json.dumps({"model": OPENAI_AGENT, "messages": MESSAGES}))
        request = HttpRequest(
            "POST",
            f"{server.process.base_url}/v1/chat/completions",
            (("Authorization", f"Bearer {server.token}"),),
            body,
        )
        pid = server.process.pid
        run_wrk(request, 64, 2, args.client_cpu)  # warm-up
        cpu_before = cpu_seconds(pid)
        threads_before = thread_cpu(pid)
        wall = time.monotonic()
        result = run_wrk(request, 64, args.duration, args.client_cpu)
        wall = time.monotonic() - wall
        cpu = (cpu_seconds(pid) - cpu_before) / wall
        threads_after = thread_cpu(pid)
        used = {tid: threads_after[tid] - threads_before.get(tid, 0.0) for tid in threads_after}
        main_share = used.get(pid, 0.0) / max(1e-9, sum(used.values()))
    finally:
        for process in reversed(started):
            process.stop()
    return {
        "cpus_allowed": all_cpus,
        "rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "server_cpu_seconds_per_second": cpu,
        "server_threads": len(used),
        "main_thread_share_of_cpu": main_share,
    }


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (the event loop runs on the main thread, tid = pid)."""
    result = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        result[int(tid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return result


def summary(o: dict[str, Any]) -> str:
    return (
        f"admitted and completed {o['admitted_ok']:,} (failed {o['admitted_failed']}), "
        f"shed {o['shed']:,} with 503 in p50 {o['shed_p50_ms']:.1f} / p99 "
        f"{o['shed_p99_ms']:.1f} / max {o['shed_max_ms']:.1f} ms; completed p50 "
        f"{o['ok_p50_ms']:.0f} ms; /health/live {o['live_probes']} probes p50 "
        f"{o['live_p50_ms']:.1f} / p99 {o['live_p99_ms']:.1f} / max {o['live_max_ms']:.1f} ms, "
        f"{o['live_failed']} failed; max in flight {o['max_in_flight_seen']:g}/{o['limit']}; "
        f"server CPU {o['server_cpu_per_second']:.2f} s/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--limit", type=int, default=32, help="server.max_inflight_runs (32)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load (15)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--skip-workers", action="store_true", help="only the overload scenario")
    parser.add_argument(
        "--probe-cpu", type=int, default=None, help="CPU of the /health/live prober (client CPU)"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench")
    parser.add_argument("--probe", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(asyncio.run(probe_live(args.probe, args.duration))))
        return 0
    if args.probe_cpu is None:
        args.probe_cpu = args.client_cpu
    all_cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {args.client_cpu})
    print(
        f"bench.overload: limit {args.limit}, {4 * args.limit} clients for {args.duration:g} s",
        flush=True,
    )
    results: dict[str, Any] = {"overload": overload(args, out, args.limit)}
    print("bench.overload: the same load without shedding (limit 4x higher)", flush=True)
    results["unlimited"] = overload(args, out, 4 * args.limit)
    if not args.skip_workers:
        print("bench.overload: CPU one server process can use", flush=True)
        results["workers"] = workers(args, out, all_cpus)
    (out / "overload.json").write_text(json.dumps(results, indent=2))
    for label, o in (("with the limit", results["overload"]), ("without", results["unlimited"])):
        print(f"{label}: " + summary(o))
    o = results["overload"]
    if "workers" in results:
        w = results["workers"]
        print(
            f"one process on CPUs {w['cpus_allowed']} under CPU-bound load: "
            f"{w['server_cpu_seconds_per_second']:.2f} CPU-seconds per second, "
            f"{w['rps']:,.0f} requests/s, {w['server_threads']} threads, "
            f"{w['main_thread_share_of_cpu']:.1%} of its CPU on the event-loop thread"
        )
    failed = [name for name, ok in o["checks"].items() if not ok]
    for name, ok in o["checks"].items():
        print(f"  {'PASS' if ok else 'FAIL'} {name}")
    print(f"Full results: {out / 'overload.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
