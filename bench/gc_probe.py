"""Run our server (``python -m app``) while recording the cyclic GC's work.

For A/B runs: ``python -m bench --server-module bench.gc_probe``. When the server exits, two lines
are written to stderr, so they land in ``build/bench/agentsmcp.log``:
- ``gc_probe: full collections ...``: the time (seconds since start) and pause (ms) of each full
  (generation 2) collection; those in the first seconds are imports, the ones after serving;
- ``gc_probe: CPU while serving ...``: from the server's start (its ``gc.freeze()``) to its exit,
  the CPU time the collections of each generation took, their count, and their share of the
  process's CPU time in that span.

``GC_PROBE_YOUNG_THRESHOLD=700`` runs the server with CPython's default first threshold instead
of ours (app.lifecycle.GC_YOUNG_THRESHOLD), for the A/B of bench/FINDINGS.md section 2.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import time
from typing import Any

STARTED = time.perf_counter()
_collection_started: dict[int, tuple[float, float]] = {}
full_collections: list[tuple[float, float]] = []
cpu_by_generation = [0.0, 0.0, 0.0]
collections_by_generation = [0, 0, 0]
collected_by_generation = [0, 0, 0]
# The process's CPU time when the server froze its startup objects (None before).
serving_since: list[float] = []


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    generation = info["generation"]
    now, cpu = time.perf_counter(), time.thread_time()
    if phase == "start":
        _collection_started[generation] = (now, cpu)
        return
    if generation not in _collection_started:
        return
    started, cpu_started = _collection_started[generation]
    if serving_since:
        cpu_by_generation[generation] += cpu - cpu_started
        collections_by_generation[generation] += 1
        collected_by_generation[generation] += info["collected"]
    if generation == 2:
        full_collections.append((round(now - STARTED, 2), round((now - started) * 1000, 1)))


def _report() -> None:
    pauses = ", ".join(f"{at} s: {ms} ms" for at, ms in full_collections)
    print(f"gc_probe: full collections (time since start: pause): {pauses}", file=sys.stderr)
    spent = sum(cpu_by_generation)
    share = spent / max(time.process_time() - (serving_since or [0.0])[0], 1e-9)
    per_generation = ", ".join(
        f"gen{generation} {count} in {cpu * 1000:.0f} ms ({collected} objects freed)"
        for generation, (count, cpu, collected) in enumerate(
            zip(collections_by_generation, cpu_by_generation, collected_by_generation, strict=True)
        )
    )
    print(
        f"gc_probe: CPU while serving: {per_generation}; {share:.1%} of the process's",
        file=sys.stderr,
    )


def _freeze_and_note() -> None:
    _freeze()
    serving_since.append(time.process_time())


_freeze = gc.freeze


def main() -> int:
    gc.callbacks.append(_on_gc)
    gc.freeze = _freeze_and_note
    atexit.register(_report)
    from app import lifecycle
    from app.__main__ import main as serve_main

    if threshold := os.environ.get("GC_PROBE_YOUNG_THRESHOLD"):
        lifecycle.GC_YOUNG_THRESHOLD = int(threshold)
    if older := os.environ.get("GC_PROBE_OLDER_THRESHOLDS"):
        lifecycle.GC_OLDER_THRESHOLDS = tuple(int(each) for each in older.split(","))
    return serve_main()


if __name__ == "__main__":
    sys.exit(main())
