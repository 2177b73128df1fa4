"""Load generators pinned to their own CPU: wrk for plain requests, bench.stream_client for SSE."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH_DIR / "post.lua"
WRK_RESULT_PREFIX = "BENCH_JSON "
WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class HttpRequest:
    """One request as a target expects it, sent again and again by the load generators."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body_file: Path | None = None
    # Streams only: text the response must end with, and a pattern of its first text event.
    terminator: str | None = None
    token_marker: str | None = None
    # Plain requests: raises LoadError unless the answer is a real success (default: any JSON).
    expect: Callable[[bytes], None] | None = None

    def body(self) -> bytes | None:
        return self.body_file.read_bytes() if self.body_file else None


class LoadError(RuntimeError):
    """A scenario could not be measured: the target answered wrongly or the tool failed."""


def check_once(request: HttpRequest) -> bytes:
    """Send the request once and insist on a correct answer before putting load on it."""
    headers = dict(request.headers)
    if request.body_file:
        headers["Content-Type"] = "application/json"
    prepared = urllib.request.Request(  # noqa: S310 (loopback http URLs only)
        request.url, data=request.body(), headers=headers, method=request.method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:  # noqa: S310
            payload: bytes = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise LoadError(f"{request.method} {request.url} -> HTTP {exc.code}: {detail}") from None
    except OSError as exc:
        raise LoadError(f"{request.method} {request.url} failed: {exc}") from None
    if request.terminator is not None:
        if request.terminator.encode() not in payload[-256:] or b'"error"' in payload:
            raise LoadError(f"stream from {request.url} did not end cleanly: {payload[-300:]!r}")
    elif request.expect is not None:
        try:
            request.expect(payload)
        except ValueError as exc:
            raise LoadError(f"{request.url} answered wrongly: {exc}: {payload[:300]!r}") from None
    elif request.body_file is not None:
        try:
            json.loads(payload)
        except ValueError:
            raise LoadError(f"{request.url} answered non-JSON: {payload[:300]!r}") from None
    return payload


def run_wrk(request: HttpRequest, connections: int, duration: float, cpu: int) -> dict[str, Any]:
    """One wrk run; returns rps, p50/p90/p99 in ms and the error counts."""
    command = ["taskset", "--cpu-list", str(cpu), "wrk", "--threads", "1"]
    # wrk takes whole seconds only.
    seconds = max(1, math.ceil(duration))
    command += ["--connections", str(connections), "--duration", f"{seconds}s"]
    command += ["--timeout", WRK_TIMEOUT, "--script", str(WRK_SCRIPT), request.url, "--"]
    command += [request.method, str(request.body_file) if request.body_file else "-"]
    command += [f"{name}: {value}" for name, value in request.headers]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(WRK_RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        raise LoadError(
            f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}"
        )
    raw = json.loads(lines[-1][len(WRK_RESULT_PREFIX) :])
    errors = sum(raw[key] for key in raw if key.endswith("_errors"))
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "errors": errors,
        "error_detail": {key: raw[key] for key in raw if key.endswith("_errors") and raw[key]},
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
    }


def run_stream(
    request: HttpRequest, concurrency: int, duration: float, cpu: int, ramp: float = 0.0
) -> dict[str, Any]:
    """One streaming run; returns rps and p50/p99 of time to first byte, of total time and of
    the gap between chunks (bench/stream_client.py)."""
    assert request.body_file is not None
    assert request.terminator is not None
    assert request.token_marker is not None
    command = ["taskset", "--cpu-list", str(cpu), sys.executable, "-m", "bench.stream_client"]
    command += ["--url", request.url, "--body-file", str(request.body_file)]
    command += ["--terminator", request.terminator, "--token-marker", request.token_marker]
    command += ["--concurrency", str(concurrency)]
    command += ["--duration", f"{duration:g}", "--ramp", f"{ramp:g}"]
    for name, value in request.headers:
        command += ["--header", f"{name}: {value}"]
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=BENCH_DIR.parent
    )
    if completed.returncode != 0:
        raise LoadError(f"stream client failed ({completed.returncode}): {completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result
