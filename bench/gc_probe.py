"""Run our server (``python -m app``) while recording every full (generation 2) GC collection.

For A/B runs: ``python -m bench --server-module bench.gc_probe``. When the server exits, one line
``gc_probe: ...`` with the time (seconds since start) and pause (ms) of each full collection is
written to stderr, so it lands in ``build/bench/agentsmcp.log``. Collections in the first seconds
are imports; the ones after belong to serving.
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
from typing import Any

STARTED = time.perf_counter()
_collection_started: dict[int, float] = {}
full_collections: list[tuple[float, float]] = []


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    generation = info["generation"]
    now = time.perf_counter()
    if phase == "start":
        _collection_started[generation] = now
    elif generation == 2 and generation in _collection_started:
        pause_ms = (now - _collection_started[generation]) * 1000
        full_collections.append((round(now - STARTED, 2), round(pause_ms, 1)))


def _report() -> None:
    pauses = ", ".join(f"{at} s: {ms} ms" for at, ms in full_collections)
    print(f"gc_probe: full collections (time since start: pause): {pauses}", file=sys.stderr)


def main() -> int:
    gc.callbacks.append(_on_gc)
    atexit.register(_report)
    from app.__main__ import main as serve_main

    return serve_main()


if __name__ == "__main__":
    sys.exit(main())
