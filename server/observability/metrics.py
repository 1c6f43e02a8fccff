"""Prometheus metrics, in a registry owned by the application (not the global): gRPC calls and
their messages, the process and its garbage collector, and the state of the degradable
dependencies (Redis, each replica's copy of revocations). The domain's counters are in
`server/observability/domain_metrics.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.observability.loop_lag import loop_lag_histogram

_LABELS = ("grpc_type", "grpc_service", "grpc_method")
# Sub-millisecond buckets matter here: warm reads finish in well under a millisecond.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class GrpcMetrics:
    registry: CollectorRegistry
    started: Counter
    handled: Counter
    handling_seconds: Histogram
    msg_received: Counter
    msg_sent: Counter
    purged_rows: Counter
    loop_lag: Histogram

    @classmethod
    def create(cls) -> GrpcMetrics:
        registry = CollectorRegistry()
        # The default registry's process, GC and platform collectors: they read /proc and the
        # interpreter at scrape time, nothing per call.
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            registry.register(collector)
        return cls(
            registry=registry,
            started=Counter(
                "grpc_server_started_total",
                "RPCs started on the server.",
                _LABELS,
                registry=registry,
            ),
            handled=Counter(
                "grpc_server_handled_total",
                "RPCs completed on the server, by status code.",
                (*_LABELS, "grpc_code"),
                registry=registry,
            ),
            handling_seconds=Histogram(
                "grpc_server_handling_seconds",
                "Time from the start of an RPC to its end, in seconds.",
                _LABELS,
                buckets=_BUCKETS,
                registry=registry,
            ),
            msg_received=Counter(
                "grpc_server_msg_received_total",
                "Request messages received (one per unary call, each message of a stream).",
                _LABELS,
                registry=registry,
            ),
            msg_sent=Counter(
                "grpc_server_msg_sent_total",
                "Response messages sent (one per successful unary call, each streamed message).",
                _LABELS,
                registry=registry,
            ),
            purged_rows=Counter(
                "userservice_purged_rows_total",
                "Expired rows deleted by the periodic purge, by table.",
                ("table",),
                registry=registry,
            ),
            loop_lag=loop_lag_histogram(registry),
        )

    def count_purged(self, table: str, rows: int) -> None:
        self.purged_rows.labels(table=table).inc(rows)

    def for_method(self, grpc_type: str, service: str, method: str) -> MethodMetrics:
        labels = (grpc_type, service, method)
        return MethodMetrics(
            started=self.started.labels(*labels),
            handling_seconds=self.handling_seconds.labels(*labels),
            handled_by_code=lambda code: self.handled.labels(*labels, code),
            msg_received=self.msg_received.labels(*labels),
            msg_sent=self.msg_sent.labels(*labels),
        )


class MethodMetrics:
    """One method's label children, looked up once rather than on every call."""

    __slots__ = (
        "_handled",
        "_handled_by_code",
        "handling_seconds",
        "msg_received",
        "msg_sent",
        "started",
    )

    def __init__(
        self,
        *,
        started: Counter,
        handling_seconds: Histogram,
        handled_by_code: Callable[[str], Counter],
        msg_received: Counter,
        msg_sent: Counter,
    ) -> None:
        self.started = started
        self.msg_received = msg_received
        self.msg_sent = msg_sent
        self.handling_seconds = handling_seconds
        self._handled_by_code = handled_by_code
        self._handled: dict[str, Counter] = {}

    def handled(self, code: str) -> Counter:
        counter = self._handled.get(code)
        if counter is None:
            counter = self._handled[code] = self._handled_by_code(code)
        return counter


@dataclass(frozen=True, slots=True)
class DependencyState:
    """Readers of the caches' own state, sampled at each scrape (no bookkeeping on hot paths)."""

    redis_reachable: Callable[[], bool]
    replica_live: Callable[[], bool]
    replica_poll_fresh: Callable[[], bool]
    revocation_database_checks: Callable[[], int]
    revocation_backstop_waits: Callable[[], int]
    user_cache_backstop_waits: Callable[[], int]
    rate_limit_local_decisions: Callable[[], int]
    redis_failures: Callable[[], int]


class DependencyCollector(Collector):
    def __init__(self, state: DependencyState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state
        gauges = (
            (
                "userservice_redis_reachable",
                "1 when the latest Redis call succeeded; 0 while Redis fails (calls degrade).",
                state.redis_reachable,
            ),
            (
                "userservice_replica_live",
                "1 while this process hears the Redis events channel (its own heartbeat).",
                state.replica_live,
            ),
            (
                "userservice_replica_poll_fresh",
                "1 while this process's database poll of revocations is current.",
                state.replica_poll_fresh,
            ),
        )
        for name, documentation, read in gauges:
            yield GaugeMetricFamily(name, documentation, value=1.0 if read() else 0.0)
        counters = (
            (
                "userservice_revocation_database_checks",
                "Token revocation checks answered by the database (Redis could not vouch).",
                state.revocation_database_checks,
            ),
            (
                "userservice_revocation_backstop_waits",
                "Revocations Redis could not take, acknowledged after the database poll window.",
                state.revocation_backstop_waits,
            ),
            (
                "userservice_user_cache_backstop_waits",
                "User changes Redis could not take, acknowledged after the database poll window.",
                state.user_cache_backstop_waits,
            ),
            (
                "userservice_rate_limit_local_decisions",
                "Rate-limit decisions made by the in-process counters (Redis unavailable).",
                state.rate_limit_local_decisions,
            ),
            (
                "userservice_redis_failures",
                "Redis calls that failed (each starts a one-second cool-down without Redis).",
                state.redis_failures,
            ),
        )
        for name, documentation, count in counters:
            yield CounterMetricFamily(name, documentation, value=count())


def register_dependency_metrics(registry: CollectorRegistry, state: DependencyState) -> None:
    registry.register(DependencyCollector(state))
