"""The domain's counters, read from the objects that keep them at each scrape (the same pattern as
the dependency metrics: an integer increment where it happens, nothing else on any path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

Counts = Callable[[], Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class DomainCounts:
    """Readers of each counter, by its one label's value."""

    logins: Counts  # outcome: success, or the refusal's reason in lower case
    throttled: Counts  # limit: the rate limit that refused the attempt
    refresh_reuses: Callable[[], int]
    sessions_revoked: Counts  # reason: logout, revoked, refresh_token_reused, user_changed, ...
    tokens_issued: Counts  # kind: user_access, service_access, refresh
    password_hashes: Counts  # operation: hash, verify
    events_written: Counts  # type: user.created, session.revoked, ... (after their commit)


class DomainCollector(Collector):
    def __init__(self, counts: DomainCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts
        labelled = (
            ("userservice_logins", "Login calls, by outcome.", "outcome", counts.logins),
            (
                "userservice_throttled_attempts",
                "Attempts refused by a rate limit, by the limit that refused them.",
                "limit",
                counts.throttled,
            ),
            (
                "userservice_sessions_revoked",
                "Sessions revoked (after the commit), by reason.",
                "reason",
                counts.sessions_revoked,
            ),
            (
                "userservice_tokens_issued",
                "Tokens issued, by kind: user_access, service_access, refresh.",
                "kind",
                counts.tokens_issued,
            ),
            (
                "userservice_password_hashes",
                "argon2id computations finished, by operation (hash, verify).",
                "operation",
                counts.password_hashes,
            ),
            (
                "userservice_events_written",
                "Events committed to the event log, by type.",
                "type",
                counts.events_written,
            ),
        )
        for name, documentation, label, read in labelled:
            family = CounterMetricFamily(name, documentation, labels=(label,))
            for value, count in sorted(read().items()):
                family.add_metric((value,), count)
            yield family
        yield CounterMetricFamily(
            "userservice_refresh_token_reuses",
            "Rotated refresh tokens presented again (each revokes its session).",
            value=counts.refresh_reuses(),
        )


def register_domain_metrics(registry: CollectorRegistry, counts: DomainCounts) -> None:
    registry.register(DomainCollector(counts))
