"""A byte budget for the batch span processor's queue of encoded spans.

The SDK's queue is bounded in spans (``OTEL_BSP_MAX_QUEUE_SIZE``, 2048), not in bytes. With
captured message content a span can carry a whole prompt, and while the collector is slow or
down the queue held about 0.9 MB per request until the count was reached (bench/FINDINGS.md,
section 12): enough to get a pod killed for its memory. :class:`SpanQueue` puts each span on that
queue after making room, oldest first as the SDK does when its count is reached, so that the
queued spans stay within both bounds.

The budget counts a span from :meth:`SpanQueue.put` until it is dropped here or its export is
over (reported by the exporter through :meth:`SpanQueue.taken`): a batch the processor's thread
holds while the collector does not answer counts too. Both this class and that thread ``pop``
from the same thread-safe deque, so each span is counted out exactly once.

Imported only when tracing is on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk._shared_internal import BatchProcessor
    from prometheus_client import Counter

_logger = logging.getLogger(__name__)

# The queued spans' bytes at most; with message content off a full queue holds about 1 MB.
MAX_QUEUED_SPAN_BYTES = 64 * 1024 * 1024
# The drops are logged at most this often, as the SDK does its own ("Queue full").
WARNING_INTERVAL_SECONDS = 20.0


class Drops:
    """Spans dropped, counted by reason in the application's metrics once it has them
    (``agentsmcp_trace_spans_dropped_total``)."""

    def __init__(self) -> None:
        self.counter: Counter | None = None

    def add(self, reason: str, count: int) -> None:
        counter = self.counter
        if counter is not None and count:
            counter.labels(reason).inc(count)


class SpanQueue:
    """The spans' way onto the batch processor's queue (:meth:`put`), within ``max_bytes``."""

    def __init__(self, drops: Drops, max_bytes: int | None = None) -> None:
        self._max_bytes = MAX_QUEUED_SPAN_BYTES if max_bytes is None else max_bytes
        self._queued_bytes = 0
        self._drops = drops
        self._batches: BatchProcessor[bytes] | None = None
        self._lock = threading.Lock()
        self._warned_at = -math.inf

    def attach(self, batches: BatchProcessor[bytes]) -> None:
        self._batches = batches

    def put(self, span: bytes) -> None:
        batches = self._batches
        assert batches is not None, "attach the batch processor first"
        size = len(span)
        if size > self._max_bytes:
            self._drops.add("queue_full", 1)
            self._warn("Dropping a span of %d bytes: over the queue's budget of %d", size)
            return
        dropped = 0
        room = self._max_bytes - size
        with self._lock:
            queue = batches._queue
            while len(queue) >= batches._max_queue_size or self._queued_bytes > room:
                try:
                    oldest = queue.pop()
                except IndexError:  # the rest is being exported
                    break
                self._queued_bytes -= len(oldest)
                dropped += 1
            if self._queued_bytes > room:
                dropped += 1
            else:
                self._queued_bytes += size
                batches.emit(span)
        if dropped:
            self._drops.add("queue_full", dropped)
            self._warn("Queue full, dropping spans: %d (the budget is %d bytes)", dropped)

    def taken(self, spans: Sequence[bytes]) -> None:
        """``spans``, taken off the queue, were exported or given up."""
        size = sum(map(len, spans))
        with self._lock:
            self._queued_bytes -= size

    def _warn(self, message: str, count: int) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            _logger.warning(message, count, self._max_bytes)
