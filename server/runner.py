"""`userservice serve`: one process on uvloop, or N worker processes sharing the port."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import structlog

from server.app import running_application
from server.config import Settings
from server.errors import Unavailable
from server.observability.logging import configure_logging
from server.startup_failures import explain


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.run(main)
    result: int = uvloop.run(main)
    return result


async def serve(settings: Settings, *, reuse_port: bool = False) -> int:
    log = structlog.get_logger("userservice")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running_application(settings, reuse_port=reuse_port):
            await stop.wait()
    except Exception as exc:  # an operator's problem is one line; anything else keeps its trace
        problem = explain(exc, settings)
        if problem is None:
            raise
        log.debug("cannot start", exc_info=exc)
        if isinstance(exc, Unavailable):  # e.g. migrating on start while PostgreSQL is down
            log.error("cannot start", reason=exc.reason, error=problem)
            return 1
        log.error("cannot start", error=problem)
        return 2
    log.info("stopped")
    return 0


def _worker(settings: Settings) -> None:
    configure_logging(level=settings.log_level, json_logs=settings.json_logs)
    sys.exit(run_loop(serve(settings, reuse_port=True)))


def serve_workers(settings: Settings, workers: int) -> int:
    """Runs `workers` processes on one port (SO_REUSEPORT); SIGTERM is passed on to each."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(settings,), name=f"userservice-worker-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()

    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                process.terminate() if signum == signal.SIGTERM else process.kill()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, lambda *_: forward(signal.SIGTERM, None))
    for process in processes:
        process.join()
    return max((process.exitcode or 0) for process in processes)
