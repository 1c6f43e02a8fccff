"""Metrics of the password-hashing pool's admission, read from its own counters at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.security.hashing_admission import HashingAdmission


class HashingCollector(Collector):
    def __init__(self, admission: HashingAdmission) -> None:
        self._admission = admission

    def collect(self) -> Iterator[Metric]:
        admission = self._admission
        yield GaugeMetricFamily(
            "userservice_hashing_in_flight",
            "Calls admitted to the password-hashing pool: hashing, queued, or about to hash "
            f"(at most {admission.capacity}).",
            value=admission.in_flight,
        )
        yield GaugeMetricFamily(
            "userservice_hashing_seconds_average",
            "Moving average of one password hash's thread time, used to refuse calls whose "
            "deadline would pass in the queue.",
            value=admission.hash_seconds,
        )
        refusals = CounterMetricFamily(
            "userservice_hashing_refusals",
            "Calls refused at once (RESOURCE_EXHAUSTED PASSWORD_HASHING_BUSY), by cause: "
            "queue_full, or deadline (it would pass before the call's hashes finish).",
            labels=("cause",),
        )
        for cause, count in admission.refusals.items():
            refusals.add_metric((cause.value,), count)
        yield refusals


def register_hashing_metrics(registry: CollectorRegistry, admission: HashingAdmission) -> None:
    registry.register(HashingCollector(admission))
