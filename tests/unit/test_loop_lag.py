"""The event loop's lag is measured: a loop held by blocking work shows as late timers."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from server.observability.loop_lag import loop_lag_histogram, measure_loop_lag

BLOCKED_SECONDS = 0.3
INTERVAL_SECONDS = 0.02
LAG = "userservice_event_loop_lag_seconds"


def observed(registry: CollectorRegistry, *, above: float | None = None) -> float:
    """How many observations so far: all of them, or those above `above` (a bucket bound)."""
    total = registry.get_sample_value(f"{LAG}_count") or 0.0
    if above is None:
        return total
    within = registry.get_sample_value(f"{LAG}_bucket", {"le": str(above)}) or 0.0
    return total - within


async def observations(registry: CollectorRegistry, *, at_least: float) -> None:
    """Waits (bounded by the test timeout) until the measurer has recorded `at_least`."""
    while True:
        if observed(registry) >= at_least:
            return
        await asyncio.sleep(INTERVAL_SECONDS / 2)


async def test_a_loop_blocked_by_synchronous_work_is_recorded_as_that_late() -> None:
    registry = CollectorRegistry()
    measuring = asyncio.create_task(
        measure_loop_lag(loop_lag_histogram(registry), interval_seconds=INTERVAL_SECONDS)
    )
    try:
        await observations(registry, at_least=1)
        before, late_before = observed(registry), observed(registry, above=0.25)

        # The point: blocking work holds the loop, and the timer due meanwhile fires this late.
        time.sleep(BLOCKED_SECONDS)  # noqa: ASYNC251
        await observations(registry, at_least=before + 1)

        # Due at most INTERVAL_SECONDS into the block, it fired at the block's end.
        assert observed(registry, above=0.25) >= late_before + 1
    finally:
        measuring.cancel()
        await asyncio.gather(measuring, return_exceptions=True)
