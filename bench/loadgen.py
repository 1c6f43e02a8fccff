"""Load generators: h2load (when installed) and a multi-process Python fallback.

Both send one unary gRPC method `total` times over `connections` HTTP/2 connections with
`streams` calls in flight on each, and return calls/s with per-call latencies.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio


@dataclass(frozen=True, slots=True)
class Call:
    """One unary method and its serialized request."""

    method: str
    request: bytes
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Result:
    calls: int
    failed: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")


def h2load_path() -> str | None:
    return shutil.which("h2load")


def grpc_frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: no compression flag, 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def run_h2load(
    target: str,
    call: Call,
    *,
    total: int,
    connections: int,
    streams: int,
    threads: int = 1,
    duration: float | None = None,
) -> Result:
    with tempfile.TemporaryDirectory() as scratch:
        body = Path(scratch) / "body"
        body.write_bytes(grpc_frame(call.request))
        log = Path(scratch) / "log"
        headers = [
            "content-type: application/grpc",
            "te: trailers",
            *(f"{key}: {value}" for key, value in call.metadata),
        ]
        args = [
            "h2load",
            f"--duration={math.ceil(duration)}" if duration else f"--requests={total}",
            f"--clients={connections}",
            f"--max-concurrent-streams={streams}",
            f"--threads={threads}",
            f"--data={body}",
            f"--log-file={log}",
            *(f"--header={h}" for h in headers),
            f"http://{target}{call.method}",
        ]
        output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        finished = re.search(r"finished in ([\d.]+)(m?s),", output)
        status = re.search(
            r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", output
        )
        if finished is None or status is None:
            raise RuntimeError(f"unexpected h2load output:\n{output}")
        seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
        latencies = []
        for line in log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                latencies.append(int(parts[2]) / 1000)
        return Result(int(status.group(2)), int(status.group(3)), seconds, latencies)


async def _worker_loop(
    target: str, call: Call, count: int, connections: int, streams: int, duration: float | None
) -> tuple[list[float], int]:
    latencies: list[float] = []
    failed = 0
    # With a duration, as many calls as fit in it (as h2load --duration).
    remaining = count if duration is None else 1 << 62
    stop_at = None if duration is None else time.perf_counter() + duration
    # A private subchannel pool per channel: one HTTP/2 connection each, as h2load's clients.
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(connections)
    ]

    async def one_stream(channel: grpc.aio.Channel) -> None:
        nonlocal remaining, failed
        method = channel.unary_unary(call.method)
        while remaining > 0 and (stop_at is None or time.perf_counter() < stop_at):
            remaining -= 1
            started = time.perf_counter()
            try:
                await method(call.request, metadata=call.metadata or None)
            except grpc.aio.AioRpcError:
                failed += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        await asyncio.gather(*(one_stream(c) for c in channels for _ in range(streams)))
    finally:
        for channel in channels:
            await channel.close()
    return latencies, failed


def _worker(
    target: str,
    call: Call,
    count: int,
    connections: int,
    streams: int,
    duration: float | None,
    queue: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    import uvloop

    started = time.time()
    latencies, failed = uvloop.run(
        _worker_loop(target, call, count, connections, streams, duration)
    )
    queue.put((latencies, failed, started, time.time()))


def run_python(
    target: str,
    call: Call,
    *,
    total: int,
    connections: int,
    streams: int,
    processes: int = 2,
    duration: float | None = None,
) -> Result:
    """The fallback generator: `processes` processes sharing the connections and the calls."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    per_process = max(1, connections // processes)
    shares = [total // processes] * processes
    shares[0] += total - sum(shares)
    workers = [
        context.Process(
            target=_worker, args=(target, call, share, per_process, streams, duration, queue)
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    # The window in which the workers were sending (process start-up excluded).
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    latencies = [ms for r in results for ms in r[0]]
    return Result(len(latencies), sum(r[1] for r in results), seconds, latencies)


def run_load(
    target: str,
    call: Call,
    *,
    total: int,
    connections: int,
    streams: int,
    generator: str,
    duration: float | None = None,
) -> Result:
    """`total` calls, or with a `duration`, as many as that many seconds allow."""
    if generator == "h2load":
        return run_h2load(
            target, call, total=total, connections=connections, streams=streams, duration=duration
        )
    return run_python(
        target, call, total=total, connections=connections, streams=streams, duration=duration
    )
