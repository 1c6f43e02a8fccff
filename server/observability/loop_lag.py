"""How late the event loop runs what falls due: a timer set every quarter second records how far
past its time it fired. Every await of every call waits as long, and a unary call whose deadline
passes while it waits for the loop is cancelled by grpc before its handler runs, where no gRPC
metric counts it (ARCHITECTURE.md, "Overload")."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram

LOOP_LAG_INTERVAL_SECONDS = 0.25
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def loop_lag_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "userservice_event_loop_lag_seconds",
        "How late the event loop fired a timer due every 0.25 s, in seconds.",
        buckets=_BUCKETS,
        registry=registry,
    )


async def measure_loop_lag(
    lag: Histogram, *, interval_seconds: float = LOOP_LAG_INTERVAL_SECONDS
) -> None:
    """Runs until cancelled: one observation per interval, four wake-ups a second."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_seconds
        await asyncio.sleep(interval_seconds)
        lag.observe(max(0.0, loop.time() - due))
