"""Sample our server with py-spy while a scenario runs, and summarize where the time goes.

py-spy writes collapsed stacks (``frame;frame;... count``). The summary lists functions by
inclusive share (on the stack at all) and by self share (the leaf), which is enough to see what
dominates the hot path without a browser.
"""

from __future__ import annotations

import collections
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PY_SPY_RATE = 250
TOP_FUNCTIONS = 40


def record(pid: int, output: Path, duration: float, cpu: int, load: Callable[[], object]) -> Path:
    """Run ``load`` while py-spy samples ``pid``; returns the path of the collapsed stacks."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = ["taskset", "--cpu-list", str(cpu), "py-spy", "record", "--pid", str(pid)]
    command += ["--rate", str(PY_SPY_RATE), "--duration", f"{max(1, round(duration))}"]
    # Blocking sampling pauses the server per sample but gives whole stacks; profiled runs are
    # extra runs whose numbers are not reported.
    command += ["--format", "raw", "--output", str(output)]
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    load()
    _, errors = sampler.communicate(timeout=duration + 30)
    if sampler.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')}")
    return output


def _function(frame: str) -> str:
    # "handle (aiohttp/web_protocol.py:123)" -> "handle (aiohttp/web_protocol.py)"
    name, _, location = frame.partition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def summarize(stacks_path: Path) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in stacks_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        # Pool threads parked on a queue look busy to py-spy; the event loop is what we measure.
        if not frames or frames[0].startswith("Thread._bootstrap"):
            continue
        total += count
        own[frames[-1]] += count
        for function in set(frames):
            inclusive[function] += count
    if not total:
        return f"{stacks_path.name}: no samples\n"
    lines = [f"{stacks_path.name}: {total} samples of the main thread", "", "inclusive %:"]
    lines += [f"  {100 * n / total:5.1f}  {f}" for f, n in inclusive.most_common(TOP_FUNCTIONS)]
    lines += ["", "self %:"]
    lines += [f"  {100 * n / total:5.1f}  {f}" for f, n in own.most_common(TOP_FUNCTIONS)]
    return "\n".join(lines) + "\n"
