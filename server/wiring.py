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


def build_services(settings: Settings, adapters: Adapters, hasher: PasswordHasher) -> Services:
    access_ttl = dt.timedelta(seconds=settings.access_token_ttl_seconds)
    units, codec, limiter = adapters.units, adapters.codec, adapters.limiter
    revocations = adapters.revocations
    limits = Limits.from_settings(settings)
    server_secret = page_token_secret(settings)
    page_tokens = PageTokens(server_secret)
    policy = PasswordPolicy(min_length=settings.password_min_length)
    codes = CodeIssuer(
        CodeMinter(code_key(server_secret)),
        dt.timedelta(seconds=settings.one_time_code_ttl_seconds),
    )
    users = UserService(
        units=units,
        hasher=hasher,
        policy=policy,
        cache=adapters.user_cache,
        revocations=revocations,
        limiter=limiter,
        limits=limits,
        page_tokens=page_tokens,
        fingerprint_key=fingerprint_key(server_secret),
        codes=codes,
    )
    service_accounts = ServiceAccountService(
        units=units,
        codec=codec,
        limiter=limiter,
        limits=limits,
        page_tokens=page_tokens,
        # Never longer than user tokens: signing keys are retained for that long.
        token_ttl=min(dt.timedelta(seconds=settings.service_token_ttl_seconds), access_ttl),
        secret_grace=dt.timedelta(seconds=settings.service_secret_grace_seconds),
        clock=utc_now,
    )
    auth = AuthService(
        units=units,
        hasher=hasher,
        codec=codec,
        verifier=CachingTokenVerifier(codec, max_entries=settings.verified_token_cache_size),
        revocations=revocations,
        limiter=limiter,
        limits=limits,
        access_ttl=access_ttl,
        refresh_ttl=dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        reuse_grace=dt.timedelta(seconds=settings.refresh_reuse_grace_seconds),
        clock=utc_now,
        service_token_live=service_accounts.token_live,
        require_verified_email=settings.require_verified_email,
    )
    sessions = SessionService(
        units=units, revocations=revocations, page_tokens=page_tokens, clock=utc_now
    )
    events = EventService(
        units=units,
        page_tokens=page_tokens,
        signal=adapters.event_signal,
        poll_seconds=settings.event_poll_seconds,
        clock=utc_now,
    )
    return Services(
        db=adapters.db,
        units=units,
        users=users,
        auth=auth,
        sessions=sessions,
        revocations=revocations,
        codec=codec,
        replica=adapters.replica,
        user_cache=adapters.user_cache,
        service_accounts=service_accounts,
        events=events,
        email_verification=EmailVerificationService(
            units=units,
            codes=codes,
            cache=adapters.user_cache,
            limiter=limiter,
            limits=limits,
            clock=utc_now,
        ),
        password_reset=PasswordResetService(
            units=units,
            codes=codes,
            hasher=hasher,
            policy=policy,
            cache=adapters.user_cache,
            revocations=revocations,
            limiter=limiter,
            limits=limits,
            clock=utc_now,
            answer_floor=settings.password_reset_answer_seconds,
        ),
        event_signal=adapters.event_signal,
        limiter=limiter,
        redis_guard=adapters.redis_guard,
        hasher=hasher,
    )
