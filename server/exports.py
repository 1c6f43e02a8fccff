"""What the HTTP listener exports, read from the running services: the dependency and domain
metrics (sampled at each scrape) and the key publication (read at each request)."""

from __future__ import annotations

from server.config import Settings
from server.http_listener import KeyPublication
from server.observability.domain_metrics import DomainCounts
from server.observability.metrics import DependencyState
from server.wiring import Services


def dependency_state(services: Services) -> DependencyState:
    return DependencyState(
        redis_reachable=lambda: services.redis_guard.reachable,
        replica_live=lambda: services.replica.live,
        replica_poll_fresh=lambda: services.replica.poll_fresh,
        revocation_database_checks=lambda: services.revocations.database_checks,
        revocation_backstop_waits=lambda: services.revocations.backstop_waits,
        user_cache_backstop_waits=lambda: services.user_cache.backstop_waits,
        rate_limit_local_decisions=lambda: services.limiter.local_decisions,
        redis_failures=lambda: services.redis_guard.failures,
    )


def domain_counts(services: Services) -> DomainCounts:
    auth, codec = services.auth, services.codec

    def tokens_issued() -> dict[str, int]:
        return {
            "user_access": codec.issued["user"],
            "service_access": codec.issued["service"],
            "refresh": auth.refresh_tokens_issued,
        }

    return DomainCounts(
        logins=lambda: auth.login_outcomes,
        throttled=lambda: services.limiter.throttled,
        refresh_reuses=lambda: auth.refresh_reuses,
        sessions_revoked=lambda: services.revocations.revoked,
        tokens_issued=tokens_issued,
        password_hashes=lambda: services.hasher.computed,
        events_written=lambda: services.units.events_written,
    )


def key_publication(settings: Settings, services: Services) -> KeyPublication:
    return KeyPublication(
        jwks=services.auth.jwks,
        issuer=settings.jwt_issuer,
        algorithm=settings.jwt_algorithm.value,
        # Half the activation delay: the other half is for rolling the new key out to every
        # replica. A consumer that honours it holds a new key before the key's first token.
        max_age_seconds=settings.jwt_key_activation_seconds // 2,
        public_url=settings.public_url,
    )
