"""Serve an application and shut it down the way Kubernetes expects.

On SIGTERM or SIGINT:

1. readiness turns 503 (reason ``draining``) at once, and the server keeps serving for
   ``server.drain_seconds`` so the endpoint is removed from load balancers first;
2. the listening sockets close and idle keep-alive connections are closed; in-flight requests
   (streams included) get ``server.shutdown_timeout_seconds`` to finish;
3. if they have not, ``SHUTDOWN_DEADLINE_KEY`` is set so streams can send a final error event,
   and after a short grace period aiohttp cancels what is left;
4. cleanup contexts run (provider clients close) and :func:`serve` returns; the process exits 0.

A second signal skips the rest of the drain period.

aiohttp's own ``AppRunner.cleanup()`` stops the sites, runs ``on_shutdown`` and then waits up to
its ``shutdown_timeout`` per connection before cancelling handlers. We wait for in-flight
requests ourselves first (to log it and to set the deadline event before anything is cancelled),
so the runner's own timeout only covers the final grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal

import structlog
from aiohttp import web

from app.allocator import fix_malloc_thresholds
from app.app_keys import STATE_KEY
from app.config import STREAM_ABORT_GRACE_SECONDS, AppConfig
from app.parser_errors import AppRunner
from app.server import create_metrics_app

# Connections the kernel completes while the loop is busy (a reconnect storm after a rollout, a
# burst of new streams); aiohttp's default of 128 drops the rest's SYNs, which costs them a
# one-second retransmit. Linux caps it at net.core.somaxconn (4096 by default).
LISTEN_BACKLOG = 2048
# A young-generation collection per 10,000 new tracked objects instead of CPython's 700: a
# request allocates thousands, and at 700 the collections (and the full ones they lead to, over
# everything created since the freeze) took about 9% of the CPU under load (bench/FINDINGS.md,
# section 2).
GC_YOUNG_THRESHOLD = 10_000
# The middle generation is collected after 100 young collections, not 10: with 1,000 streams in
# flight each of its collections walked every stream's objects (about 36 ms, a stall of every
# stream) and freed nothing, 2.5% of the CPU (bench/FINDINGS.md, section 2). The oldest keeps
# CPython's 10 (and its rule of a quarter of the long-lived objects being new).
GC_OLDER_THRESHOLDS = (100, 10)


def _settle_gc() -> None:
    """Everything alive once the server has started (mostly the SDKs' pydantic classes) lives as
    long as the process: frozen, full collections never walk it again, which otherwise paused
    serving under load; then the young generation's threshold for serving (bench/FINDINGS.md,
    section 2)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *GC_OLDER_THRESHOLDS)


log = structlog.get_logger("agentsmcp.lifecycle")


async def serve(app: web.Application, config: AppConfig) -> None:
    """Run ``app`` on the configured host and port until SIGTERM/SIGINT, then drain and stop."""
    loop = asyncio.get_running_loop()
    state = app[STATE_KEY]
    malloc_thresholds_fixed = fix_malloc_thresholds()
    stop_requested = asyncio.Event()
    drain_cut_short = asyncio.Event()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop_requested.is_set():
            log.info("second signal: ending the drain period now", signal=name)
            drain_cut_short.set()
            return
        log.info("shutdown requested", signal=name)
        stop_requested.set()

    runner = AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=STREAM_ABORT_GRACE_SECONDS
    )
    metrics_runner: web.AppRunner | None = None
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.server.host, config.server.port, backlog=LISTEN_BACKLOG)
        await _start(site, config.server.host, config.server.port)
        if config.metrics.enabled and config.metrics.port is not None:
            # Serves through the drain and stops last, so the final scrape sees the shutdown.
            metrics_runner = web.AppRunner(
                create_metrics_app(app), handle_signals=False, access_log=None
            )
            await metrics_runner.setup()
            metrics_site = web.TCPSite(metrics_runner, config.server.host, config.metrics.port)
            await _start(metrics_site, config.server.host, config.metrics.port)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        _settle_gc()
        log.info(
            "server started",
            host=config.server.host,
            port=config.server.port,
            metrics_port=config.metrics.port if metrics_runner is not None else None,
            environment=config.environment,
            gc_frozen_objects=gc.get_freeze_count(),
            malloc_thresholds_fixed=malloc_thresholds_fixed,
        )
        await stop_requested.wait()

        state.not_ready_reason = "draining"
        drain_seconds = config.server.drain_seconds
        log.info("draining: readiness is 503, still serving", drain_seconds=drain_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drain_cut_short.wait(), timeout=drain_seconds)

        state.not_ready_reason = "stopping"
        for running_site in list(runner.sites):
            await running_site.stop()
        if runner.server is not None:
            # Closes idle keep-alive connections; busy ones close after their current response.
            runner.server.pre_shutdown()
        timeout = config.server.shutdown_timeout_seconds
        log.info("stopped accepting connections", in_flight=state.in_flight, timeout=timeout)
        try:
            await asyncio.wait_for(state.wait_idle(), timeout=timeout)
            log.info("in-flight requests finished")
        except TimeoutError:
            log.warning(
                "shutdown timeout expired: cancelling the remaining requests",
                in_flight=state.in_flight,
                grace_seconds=STREAM_ABORT_GRACE_SECONDS,
            )
            state.shutdown_deadline.set()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
    log.info("server stopped")


class ListenError(OSError):
    """A listener could not bind; names the address, which the caller prints."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.host = host
        self.port = port


async def _start(site: web.TCPSite, host: str, port: int) -> None:
    try:
        await site.start()
    except OSError as exc:
        raise ListenError(host, port, exc) from exc
