"""``python -m bench.limits`` (run by ``make bench``): what the shared limits store adds per
request.

Two copies of our server, identical but for ``rate_limit.backend`` (``memory`` and ``redis``, a
real redis-server on loopback), side by side on the server CPU with the fake upstream and the
redis-server; wrk drives them from the other CPU, runs interleaved. Scenarios:

- ``models``: ``GET /v1/models``, no upstream: the request limit alone (one store round trip).
- ``run``: a non-streamed OpenAI agent run with token budgets on: the request limit, the budget
  reservation and its settlement (three round trips).

Reports p50/p99 and CPU per request of each backend and the added p50 (redis - memory). On a
shared machine those end-to-end medians move by more than the store costs, so the store's own
latency is also measured directly: ``hit`` (the request limit) and ``reserve`` + ``charge`` (a
run's budgets) timed call by call from this process against the same redis-server, one caller at
a time and 32 at once, next to the in-process store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from app.limits import Bucket, Budget, MemoryStore
from app.limits._redis import RedisStore, connect
from bench.load import HttpRequest, check_once, run_wrk
from bench.processes import REPO_ROOT, Process, agent_server, cpu_seconds, fake_upstream, free_port

REDIS_PASSWORD = "bench-redis-password-0123456789"  # noqa: S105 (loopback benchmark only)
CONNECTIONS = (1, 32)
TARGET_P50_MS = 0.3
BACKENDS = ("memory", "redis")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "build" / "bench",
        help="output directory (the main benchmark's; this one writes under limits/)",
    )
    parser.add_argument("--quick", action="store_true", help="one short run (a smoke test)")
    parser.add_argument(
        "--calls-only", action="store_true", help="only the direct store-call timings"
    )
    # `make bench` passes BENCH_ARGS meant for the main benchmark too; ignore the others.
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.runs, args.duration = 1, 1.0
    return args


def redis_server(out: Path, cpu: int) -> Process:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench.limits: redis-server is missing (scripts/system-deps.sh)")
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port)]
    command += ["--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no"]
    return Process("redis-server", command, port, out / "redis.log", cpu)


def limited_server(out: Path, cpu: int, upstream: Process, backend: str, redis: Process) -> Any:
    setup = agent_server(out / backend, cpu, upstream)
    config = yaml.safe_load(setup.config_path.read_text())
    config["rate_limit"] = {
        **config["rate_limit"],
        "backend": backend,
        "tokens_per_minute": 10**11,
        "tokens_per_day": 10**11,
    }
    setup.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    if backend == "redis":
        setup.process.env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
        setup.process.env["REDIS_PASSWORD"] = REDIS_PASSWORD
    return setup


DIRECT_CALLS = 3000


async def _time_calls(call: Any, concurrency: int, calls: int) -> list[float]:
    """Latency (ms) of each of ``calls`` calls, made by ``concurrency`` callers at once."""
    latencies: list[float] = []
    per_caller = calls // concurrency

    async def caller(index: int) -> None:
        for number in range(per_caller):
            started = time.perf_counter_ns()
            await call(index, number)
            latencies.append((time.perf_counter_ns() - started) / 1e6)

    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    return latencies


async def direct(redis: Process, runs: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of the store calls on the request path, redis and in-process."""
    client = connect(f"redis://127.0.0.1:{redis.port}/0", REDIS_PASSWORD, 1.0)
    stores = {"memory": MemoryStore(), "redis": RedisStore(client, "bench:")}
    await stores["redis"].load_scripts()  # type: ignore[attr-defined]
    bucket = Bucket(10**9, 10**9)
    results: dict[str, list[float]] = {}
    for _ in range(runs):
        for connections in CONNECTIONS:
            for backend, store in stores.items():

                async def hit(index: int, number: int, store: Any = store) -> None:
                    await store.hit(f"sub:user-{index}", bucket)

                async def budget(index: int, number: int, store: Any = store) -> None:
                    budgets = [
                        Budget(f"sub:user-{index}", "tokens-per-minute", 10**12, 60),
                        Budget(f"sub:user-{index}", "tokens-per-day", 10**12, 86_400),
                    ]
                    reservation = await store.reserve(budgets, 300)
                    await store.charge(budgets, -280, reservation)

                async def ping(index: int, number: int, store: Any = store) -> None:
                    if isinstance(store, RedisStore):
                        await store.ping()

                calls = (("ping", ping), ("hit", hit), ("reserve+charge", budget))
                for name, call in calls:
                    key = f"{name} c={connections} {backend}"
                    results.setdefault(key, []).extend(
                        await _time_calls(call, connections, DIRECT_CALLS)
                    )
    await client.aclose()
    return {
        key: {
            "p50_ms": statistics.median(values),
            "p99_ms": statistics.quantiles(values, n=100)[98],
        }
        for key, values in results.items()
    }


def requests_for(base_url: str, token: str, body: Path) -> dict[str, HttpRequest]:
    auth = (("Authorization", f"Bearer {token}"),)
    return {
        "models": HttpRequest("GET", f"{base_url}/v1/models", auth),
        "run": HttpRequest(
            "POST",
            f"{base_url}/v1/chat/completions",
            (*auth, ("Content-Type", "application/json")),
            body,
        ),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.sched_setaffinity(0, {args.client_cpu})
    out: Path = args.out / "limits"
    args.out = out
    out.mkdir(parents=True, exist_ok=True)
    body = out / "run.json"
    body.write_text(
        json.dumps(
            {"model": "bench-openai", "messages": [{"role": "user", "content": "Say hello."}]}
        )
    )
    upstream = fake_upstream(out, args.server_cpu, 0.0)
    redis = redis_server(out, args.server_cpu)
    processes = [upstream, redis]
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    try:
        upstream.start()
        redis.start()
        if not args.calls_only:
            setups = {b: limited_server(out, args.server_cpu, upstream, b, redis) for b in BACKENDS}
            for setup in setups.values():
                setup.process.start()
                processes.append(setup.process)
            requests = {
                backend: requests_for(setup.process.base_url, setup.token, body)
                for backend, setup in setups.items()
            }
            for backend in BACKENDS:
                for request in requests[backend].values():
                    check_once(request)
                    run_wrk(request, 8, 1.0, args.client_cpu)  # warm-up
            for run in range(args.runs):
                for scenario in ("models", "run"):
                    for connections in CONNECTIONS:
                        for backend in BACKENDS:
                            process = setups[backend].process
                            before = cpu_seconds(process.pid)
                            result = run_wrk(
                                requests[backend][scenario],
                                connections,
                                args.duration,
                                args.client_cpu,
                            )
                            cpu = cpu_seconds(process.pid) - before
                            result["cpu_us_per_request"] = 1e6 * cpu / max(1, result["requests"])
                            results.setdefault((scenario, backend, connections), []).append(result)
                            print(
                                f"  run {run + 1}/{args.runs} {scenario:<6} c={connections:<2} "
                                f"{backend:<6} p50 {result['p50_ms']:.3f} ms "
                                f"p99 {result['p99_ms']:.3f} ms rps {result['rps']:,.0f} "
                                f"errors {result['errors']}",
                                flush=True,
                            )
        calls = asyncio.run(direct(redis, args.runs))
    finally:
        for process in reversed(processes):
            process.stop()
    return report(results, calls, args)


def report(
    results: dict[tuple[str, str, int], list[dict[str, Any]]],
    calls: dict[str, dict[str, float]],
    args: Any,
) -> int:
    def median(scenario: str, backend: str, connections: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(scenario, backend, connections)])

    rows: list[dict[str, Any]] = []
    lines = [
        "| scenario | conns | memory p50 | redis p50 | added p50 | memory p99 | redis p99 "
        "| CPU us/req memory | CPU us/req redis | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in ("models", "run") if results else ():
        for connections in CONNECTIONS:
            row = {
                "scenario": scenario,
                "connections": connections,
                **{
                    f"{backend}_{key}": median(scenario, backend, connections, key)
                    for backend in BACKENDS
                    for key in ("p50_ms", "p99_ms", "rps", "cpu_us_per_request")
                },
                "errors": sum(
                    r["errors"]
                    for backend in BACKENDS
                    for r in results[(scenario, backend, connections)]
                ),
            }
            row["added_p50_ms"] = row["redis_p50_ms"] - row["memory_p50_ms"]
            rows.append(row)
            lines.append(
                f"| {scenario} | {connections} | {row['memory_p50_ms']:.3f} ms "
                f"| {row['redis_p50_ms']:.3f} ms | {row['added_p50_ms']:+.3f} ms "
                f"| {row['memory_p99_ms']:.3f} ms | {row['redis_p99_ms']:.3f} ms "
                f"| {row['memory_cpu_us_per_request']:.0f} | {row['redis_cpu_us_per_request']:.0f} "
                f"| {row['errors']} |"
            )
    if rows:
        print(
            f"\nEnd to end through our server, medians of {args.runs} runs of {args.duration:g} s:"
        )
        print("\n".join(lines))
    direct_lines = [
        "| store call | callers | in-process p50 | redis p50 | redis p99 |",
        "|---|---|---|---|---|",
    ]
    for name in ("ping", "hit", "reserve+charge"):
        for connections in CONNECTIONS:
            memory = calls[f"{name} c={connections} memory"]
            redis = calls[f"{name} c={connections} redis"]
            direct_lines.append(
                f"| {name} | {connections} | {memory['p50_ms']:.3f} ms "
                f"| {redis['p50_ms']:.3f} ms | {redis['p99_ms']:.3f} ms |"
            )
    print(f"\nThe store calls alone, {args.runs} x {DIRECT_CALLS:,} calls per row:")
    print("\n".join(direct_lines))
    added = calls["hit c=1 redis"]["p50_ms"] - calls["hit c=1 memory"]["p50_ms"]
    met = added < TARGET_P50_MS
    print(
        f"\ntarget: added p50 per request at 1 connection < {TARGET_P50_MS} ms: "
        f"{added:.3f} ms ({'met' if met else 'NOT met'})"
        + (f"; end to end {rows[0]['added_p50_ms']:+.3f} ms" if rows else "")
    )
    (args.out / "results.json").write_text(
        json.dumps({"end_to_end": rows, "calls": calls}, indent=2)
    )
    errors = sum(row["errors"] for row in rows)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
