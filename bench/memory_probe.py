"""Run our server (``python -m app``); SIGUSR2 starts tracemalloc, SIGUSR1 dumps a snapshot.

Used by ``python -m bench.stream_memory``: ``MEMORY_PROBE_FRAMES`` is the traceback depth kept
per allocation, ``MEMORY_PROBE_SNAPSHOT`` the path each snapshot is written to (the file appears
complete: it is written under another name, then renamed). Tracing starts on request, after
startup: with it on, importing both SDKs takes longer than a client waits for the port.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from types import FrameType

SNAPSHOT_ENV = "MEMORY_PROBE_SNAPSHOT"
FRAMES_ENV = "MEMORY_PROBE_FRAMES"


def _dump(signum: int, frame: FrameType | None) -> None:
    path = os.environ[SNAPSHOT_ENV]
    tracemalloc.take_snapshot().dump(path + ".part")
    os.replace(path + ".part", path)


def _start(signum: int, frame: FrameType | None) -> None:
    tracemalloc.start(int(os.environ.get(FRAMES_ENV, "30")))


def main() -> int:
    signal.signal(signal.SIGUSR2, _start)
    signal.signal(signal.SIGUSR1, _dump)
    from app.__main__ import main as serve_main

    return serve_main()


if __name__ == "__main__":
    sys.exit(main())
