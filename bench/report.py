"""Medians over runs, comparisons with the upstream and the minimal proxy, tables and targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

UPSTREAM = "upstream"
PROXY = "minimal proxy"
SERVER = "agentsmcp"

# The targets, checked against the minimal proxy measured in the same run.
MIN_THROUGHPUT_RATIO = 0.5
MAX_ADDED_P50_MS = 1.0
MAX_ADDED_TTFB_MS = 1.0
MAX_IDLE_RSS_MB = 80.0
MAX_SOAK_GROWTH_PERCENT = 10.0


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


def summarize(runs: list[dict[str, Any]], metrics: tuple[str, ...]) -> dict[str, Spread]:
    return {metric: Spread.of([run[metric] for run in runs]) for metric in metrics}


WRK_METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")
STREAM_METRICS = (
    "rps",
    "ttfb_p50_ms",
    "ttfb_p99_ms",
    "ttft_p50_ms",
    "total_p50_ms",
    "total_p99_ms",
    "cpu_us_per_request",
)


def _rps(spread: Spread) -> str:
    return f"{spread.median:,.0f} ({spread.low:,.0f}-{spread.high:,.0f})"


def _ms(spread: Spread) -> str:
    return f"{spread.median:.2f} ({spread.low:.2f}-{spread.high:.2f})"


def _us(spread: Spread) -> str:
    return f"{spread.median:,.0f}"


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} ms"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


Summaries = dict[tuple[str, str], dict[str, Spread]]


def _compare(
    summaries: Summaries, target: str, scenario: str, latency: str
) -> tuple[float | None, float | None, float | None]:
    """(latency over upstream, RPS ratio to the proxy, latency over the proxy) in medians."""
    own = summaries[(target, scenario)]
    upstream = summaries.get((UPSTREAM, scenario))
    proxy = summaries.get((PROXY, scenario))
    over_upstream = None
    if upstream and target != UPSTREAM:
        over_upstream = own[latency].median - upstream[latency].median
    ratio = over_proxy = None
    if proxy and target not in (UPSTREAM, PROXY):
        ratio = own["rps"].median / proxy["rps"].median
        over_proxy = own[latency].median - proxy[latency].median
    return over_upstream, ratio, over_proxy


def plain_table(summaries: Summaries, scenarios: list[str], targets: list[str]) -> str:
    lines = [
        "| target | scenario | RPS | p50 ms | p99 ms | CPU us/request | p50 over upstream "
        "| RPS vs minimal proxy | p50 over minimal proxy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in scenarios:
        for target in targets:
            own = summaries.get((target, scenario))
            if own is None:
                continue
            over_upstream, ratio, over_proxy = _compare(summaries, target, scenario, "p50_ms")
            lines.append(
                f"| {target} | {scenario} | {_rps(own['rps'])} | {_ms(own['p50_ms'])} "
                f"| {_ms(own['p99_ms'])} | {_us(own['cpu_us_per_request'])} "
                f"| {_delta(over_upstream)} | {_ratio(ratio)} "
                f"| {_delta(over_proxy)} |"
            )
    return "\n".join(lines)


def stream_table(summaries: Summaries, scenarios: list[str], targets: list[str]) -> str:
    lines = [
        "| target | scenario | streams/s | TTFB p50 ms | TTFB p99 ms | first token p50 ms "
        "| total p50 ms | total p99 ms | CPU us/stream | TTFB over upstream "
        "| streams/s vs minimal proxy | TTFB over minimal proxy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in scenarios:
        for target in targets:
            own = summaries.get((target, scenario))
            if own is None:
                continue
            over_upstream, ratio, over_proxy = _compare(summaries, target, scenario, "ttfb_p50_ms")
            lines.append(
                f"| {target} | {scenario} | {_rps(own['rps'])} | {_ms(own['ttfb_p50_ms'])} "
                f"| {_ms(own['ttfb_p99_ms'])} | {_ms(own['ttft_p50_ms'])} "
                f"| {_ms(own['total_p50_ms'])} "
                f"| {_ms(own['total_p99_ms'])} | {_us(own['cpu_us_per_request'])} "
                f"| {_delta(over_upstream)} | {_ratio(ratio)} "
                f"| {_delta(over_proxy)} |"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class TargetCheck:
    name: str
    measured: str
    limit: str
    met: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "measured": self.measured,
            "limit": self.limit,
            "met": self.met,
        }


def check_targets(
    summaries: Summaries,
    apis: list[str],
    rss: dict[str, Any] | None,
    soak: dict[str, Any] | None,
) -> list[TargetCheck]:
    checks: list[TargetCheck] = []
    for api in apis:
        server = summaries.get((SERVER, f"{api} c=32"))
        proxy = summaries.get((PROXY, f"{api} c=32"))
        if server and proxy:
            ratio = server["rps"].median / proxy["rps"].median
            checks.append(
                TargetCheck(
                    f"{api}: RPS at 32 connections vs minimal proxy",
                    f"{ratio:.2f}x",
                    f"≥ {MIN_THROUGHPUT_RATIO}x",
                    ratio >= MIN_THROUGHPUT_RATIO,
                )
            )
        server = summaries.get((SERVER, f"{api} c=1"))
        proxy = summaries.get((PROXY, f"{api} c=1"))
        if server and proxy:
            added = server["p50_ms"].median - proxy["p50_ms"].median
            checks.append(
                TargetCheck(
                    f"{api}: added p50 at 1 connection over minimal proxy",
                    f"{added:+.2f} ms",
                    f"≤ {MAX_ADDED_P50_MS} ms",
                    added <= MAX_ADDED_P50_MS,
                )
            )
        server = summaries.get((SERVER, f"{api} stream c=1"))
        proxy = summaries.get((PROXY, f"{api} stream c=1"))
        if server and proxy:
            added = server["ttfb_p50_ms"].median - proxy["ttfb_p50_ms"].median
            checks.append(
                TargetCheck(
                    f"{api}: stream TTFB p50 at 1 connection over minimal proxy",
                    f"{added:+.2f} ms",
                    f"≤ {MAX_ADDED_TTFB_MS} ms",
                    added <= MAX_ADDED_TTFB_MS,
                )
            )
    if rss is not None:
        idle_mb = rss["idle_bytes"] / 2**20
        checks.append(
            TargetCheck(
                "idle RSS",
                f"{idle_mb:.1f} MB",
                f"≤ {MAX_IDLE_RSS_MB:.0f} MB",
                idle_mb <= MAX_IDLE_RSS_MB,
            )
        )
    if soak is not None:
        growth = soak["growth_percent"]
        checks.append(
            TargetCheck(
                f"RSS growth over the {soak['requests']:,}-request soak",
                f"{growth:+.1f}%",
                f"≤ {MAX_SOAK_GROWTH_PERCENT:.0f}%",
                growth <= MAX_SOAK_GROWTH_PERCENT,
            )
        )
    return checks


def targets_table(checks: list[TargetCheck]) -> str:
    lines = ["| target | measured | limit | met |", "|---|---|---|---|"]
    lines += [
        f"| {check.name} | {check.measured} | {check.limit} | {'yes' if check.met else 'NO'} |"
        for check in checks
    ]
    return "\n".join(lines)
