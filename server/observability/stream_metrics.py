"""Metrics of the streaming-call budget (server/rpc/streams.py), read from its own counters at
each scrape: nothing is recorded on the call path beyond the budget's integer increments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class StreamCounts(Protocol):
    @property
    def active(self) -> int: ...

    refused_per_peer: int
    refused_total: int
    ended_at_lifetime: int


class StreamCollector(Collector):
    def __init__(self, counts: StreamCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts
        yield GaugeMetricFamily(
            "userservice_streams_active",
            "Streaming calls open now (e.g. grpc.health.v1.Health/Watch).",
            value=counts.active,
        )
        refused = CounterMetricFamily(
            "userservice_streams_refused",
            "Streaming calls refused RESOURCE_EXHAUSTED TOO_MANY_STREAMS, by the limit reached.",
            labels=("limit",),
        )
        refused.add_metric(("per_peer",), counts.refused_per_peer)
        refused.add_metric(("total",), counts.refused_total)
        yield refused
        yield CounterMetricFamily(
            "userservice_streams_ended_at_lifetime",
            "Streaming calls the server ended cleanly at their lifetime (or at shutdown).",
            value=counts.ended_at_lifetime,
        )


def register_stream_metrics(registry: CollectorRegistry, counts: StreamCounts) -> None:
    registry.register(StreamCollector(counts))
