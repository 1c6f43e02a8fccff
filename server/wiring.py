"""The services, built from settings over the adapters (the second step of server/app.py).

Plain construction, no I/O: everything a service needs is passed in by keyword. Unit tests build
the same services over an in-memory unit of work instead (tests/unit/services_in_memory.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from server.cache.event_signal import EventSignal
from server.cache.guard import RedisGuard
from server.cache.rate_limit import RateLimiter
from server.cache.replica import LocalReplica
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.clock import utc_now
from server.config import Settings
from server.repositories.database import Database
from server.repositories.unit_of_work import SqlUnitOfWorkFactory
from server.security.one_time_codes import CodeMinter, code_key
from server.security.password_policy import PasswordPolicy
from server.security.passwords import PasswordHasher
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import AccessTokenCodec
from server.services.auth import AuthService
from server.services.email_verification import EmailVerificationService
from server.services.events import EventService
from server.services.idempotency import fingerprint_key
from server.services.limits import Limits
from server.services.one_time_codes import CodeIssuer
from server.services.paging import PageTokens
from server.services.password_reset import PasswordResetService
from server.services.service_accounts import ServiceAccountService
from server.services.sessions import SessionService
from server.services.users import UserService


@dataclass(frozen=True, slots=True)
class Adapters:
    """What the services stand on: storage, token signing and the Redis-backed caches."""

    db: Database
    units: SqlUnitOfWorkFactory
    codec: AccessTokenCodec
    replica: LocalReplica
    revocations: RevocationStore
    user_cache: UserCache
    limiter: RateLimiter
    redis_guard: RedisGuard
    event_signal: EventSignal


@dataclass(frozen=True, slots=True)
class Services:
    db: Database  # integration tests open raw sessions through it
    units: SqlUnitOfWorkFactory
    users: UserService
    auth: AuthService
    sessions: SessionService
    revocations: RevocationStore
    codec: AccessTokenCodec
    replica: LocalReplica
    service_accounts: ServiceAccountService
    events: EventService
    email_verification: EmailVerificationService
    password_reset: PasswordResetService
    event_signal: EventSignal
    # Read by the dependency metrics (server/observability/metrics.py).
    limiter: RateLimiter
    redis_guard: RedisGuard
    user_cache: UserCache
    # Its admission is read by the hashing metrics (server/observability/hashing_metrics.py).
    hasher: PasswordHasher


def page_token_secret(settings: Settings) -> bytes:
    if settings.page_token_secret is not None:
        return settings.page_token_secret.get_secret_value().encode()
    # Development only (production requires the setting): stable across restarts and workers.
    return hashlib.sha256(f"userservice-development:{settings.database_url}".encode()).digest()


@dataclass(frozen=True, slots=True)
class Parts:
    """What several services share, built once."""

    settings: Settings
    adapters: Adapters
    hasher: PasswordHasher
    limits: Limits
    page_tokens: PageTokens
    policy: PasswordPolicy
    codes: CodeIssuer
    server_secret: bytes

    @property
    def access_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.access_token_ttl_seconds)


def shared_parts(settings: Settings, adapters: Adapters, hasher: PasswordHasher) -> Parts:
    server_secret = page_token_secret(settings)
    return Parts(
        settings=settings,
        adapters=adapters,
        hasher=hasher,
        limits=Limits.from_settings(settings),
        page_tokens=PageTokens(server_secret),
        policy=PasswordPolicy(min_length=settings.password_min_length),
        codes=CodeIssuer(
            CodeMinter(code_key(server_secret)),
            dt.timedelta(seconds=settings.one_time_code_ttl_seconds),
        ),
        server_secret=server_secret,
    )


def build_services(settings: Settings, adapters: Adapters, hasher: PasswordHasher) -> Services:
    parts = shared_parts(settings, adapters, hasher)
    units, page_tokens = adapters.units, parts.page_tokens
    service_accounts = service_account_service(parts)
    return Services(
        db=adapters.db,
        units=units,
        users=user_service(parts),
        auth=auth_service(parts, service_accounts),
        sessions=SessionService(
            units=units, revocations=adapters.revocations, page_tokens=page_tokens, clock=utc_now
        ),
        revocations=adapters.revocations,
        codec=adapters.codec,
        replica=adapters.replica,
        user_cache=adapters.user_cache,
        service_accounts=service_accounts,
        events=EventService(
            units=units,
            page_tokens=page_tokens,
            signal=adapters.event_signal,
            poll_seconds=settings.event_poll_seconds,
            clock=utc_now,
        ),
        email_verification=EmailVerificationService(
            units=units,
            codes=parts.codes,
            cache=adapters.user_cache,
            limiter=adapters.limiter,
            limits=parts.limits,
            clock=utc_now,
        ),
        password_reset=password_reset_service(parts),
        event_signal=adapters.event_signal,
        limiter=adapters.limiter,
        redis_guard=adapters.redis_guard,
        hasher=hasher,
    )


def user_service(parts: Parts) -> UserService:
    adapters = parts.adapters
    return UserService(
        units=adapters.units,
        hasher=parts.hasher,
        policy=parts.policy,
        cache=adapters.user_cache,
        revocations=adapters.revocations,
        limiter=adapters.limiter,
        limits=parts.limits,
        page_tokens=parts.page_tokens,
        fingerprint_key=fingerprint_key(parts.server_secret),
        codes=parts.codes,
    )


def service_account_service(parts: Parts) -> ServiceAccountService:
    settings, adapters = parts.settings, parts.adapters
    return ServiceAccountService(
        units=adapters.units,
        codec=adapters.codec,
        limiter=adapters.limiter,
        limits=parts.limits,
        page_tokens=parts.page_tokens,
        # Never longer than user tokens: signing keys are retained for that long.
        token_ttl=min(dt.timedelta(seconds=settings.service_token_ttl_seconds), parts.access_ttl),
        secret_grace=dt.timedelta(seconds=settings.service_secret_grace_seconds),
        clock=utc_now,
    )


def auth_service(parts: Parts, service_accounts: ServiceAccountService) -> AuthService:
    settings, adapters = parts.settings, parts.adapters
    return AuthService(
        units=adapters.units,
        hasher=parts.hasher,
        codec=adapters.codec,
        verifier=CachingTokenVerifier(
            adapters.codec, max_entries=settings.verified_token_cache_size
        ),
        revocations=adapters.revocations,
        limiter=adapters.limiter,
        limits=parts.limits,
        access_ttl=parts.access_ttl,
        refresh_ttl=dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        reuse_grace=dt.timedelta(seconds=settings.refresh_reuse_grace_seconds),
        clock=utc_now,
        service_token_live=service_accounts.token_live,
        require_verified_email=settings.require_verified_email,
    )


def password_reset_service(parts: Parts) -> PasswordResetService:
    adapters = parts.adapters
    return PasswordResetService(
        units=adapters.units,
        codes=parts.codes,
        hasher=parts.hasher,
        policy=parts.policy,
        cache=adapters.user_cache,
        revocations=adapters.revocations,
        limiter=adapters.limiter,
        limits=parts.limits,
        clock=utc_now,
        answer_floor=parts.settings.password_reset_answer_seconds,
    )
