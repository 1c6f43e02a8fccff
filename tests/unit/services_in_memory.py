"""The services of the composition root over an in-memory unit of work, for fast unit tests.

Real collaborators wherever they are cheap: argon2 with tiny parameters, a real signing key and
codec, and the Redis-backed caches over the in-process store `memory://` uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeredis import FakeAsyncRedis

from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.cache.rate_limit import Limit, RateLimiter
from server.cache.replica import LocalReplica
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.config import SigningAlgorithm
from server.security.keys import generate_key, load_key_set
from server.security.one_time_codes import CodeMinter
from server.security.password_policy import PasswordPolicy
from server.security.passwords import PasswordHasher
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import AccessTokenCodec
from server.services.auth import AuthService
from server.services.email_verification import EmailVerificationService
from server.services.limits import Limits
from server.services.one_time_codes import CodeIssuer
from server.services.paging import PageTokens
from server.services.password_reset import PasswordResetService
from server.services.service_accounts import ServiceAccountService
from server.services.users import UserService
from tests.support.memory_uow import MemoryUnitOfWorkFactory

ACCESS_TTL = dt.timedelta(minutes=15)
REFRESH_TTL = dt.timedelta(days=30)
REUSE_GRACE = dt.timedelta(seconds=10)
LOGIN_FAILURES = 5
EMAIL_CHANGES = 3
CODE_REQUESTS = 3
CODE_TTL = dt.timedelta(minutes=15)
# The cheapest argon2id the library accepts: a hash costs microseconds, not 30 ms.
TINY_ARGON2: dict[str, int] = {"memory_kib": 8, "time_cost": 1, "parallelism": 1}


class FakeClock:
    """Starts at the real time (tokens are checked against it) and moves only when told."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@dataclass
class InMemoryServices:
    units: MemoryUnitOfWorkFactory
    clock: FakeClock
    users: UserService
    auth: AuthService
    service_accounts: ServiceAccountService
    revocations: RevocationStore
    hasher: PasswordHasher
    page_tokens: PageTokens
    verification: EmailVerificationService
    resets: PasswordResetService


def limits() -> Limits:
    return Limits(
        login_account=Limit("login_account", LOGIN_FAILURES, 900),
        login_ip=Limit("login_ip", 100, 900),
        signup_ip=Limit("signup_ip", 100, 3600),
        service_client=Limit("service_client", LOGIN_FAILURES, 900),
        login_account_ip=Limit("login_account_ip", LOGIN_FAILURES, 900),
        email_change=Limit("email_change", EMAIL_CHANGES, 3600),
        verification_user=Limit("verification_user", CODE_REQUESTS, 3600),
        reset_email=Limit("reset_email", CODE_REQUESTS, 3600),
        reset_ip=Limit("reset_ip", 100, 3600),
    )


@dataclass
class RedisStores:
    """The Redis-backed stores the services use, over the in-process store `memory://` uses."""

    redis: Any
    revocations: RevocationStore
    users: UserCache
    limiter: RateLimiter

    async def close(self) -> None:
        await self.users.close()
        await self.revocations.close()
        await self.redis.aclose()


def token_codec(keys_dir: Path, clock: FakeClock) -> AccessTokenCodec:
    """A real signing key, written to `keys_dir`, and the codec that signs with it."""
    generate_key(keys_dir, SigningAlgorithm.EDDSA, now=clock())
    keys = load_key_set(keys_dir, SigningAlgorithm.EDDSA, access_token_ttl=ACCESS_TTL, now=clock())
    return AccessTokenCodec(keys, issuer="userservice-test", audience="userservice-test")


def redis_stores(units: MemoryUnitOfWorkFactory) -> RedisStores:
    fake: Any = FakeAsyncRedis()
    redis_keys, guard = RedisKeys("unit:"), RedisGuard(timeout_seconds=1.0)

    async def recent(since: dt.datetime) -> Sequence[tuple[Any, dt.datetime]]:
        async with units.read() as uow:
            return await uow.sessions.revoked_since(since)

    replica = LocalReplica(
        fake,
        redis_keys,
        retention=ACCESS_TTL,
        recent_revocations=recent,
        max_users=100,
        user_ttl_seconds=60,
    )
    revocations = RevocationStore(
        fake, redis_keys, guard, replica, retention=ACCESS_TTL, recent_revocations=recent
    )
    cache = UserCache(fake, redis_keys, guard, replica)
    return RedisStores(fake, revocations, cache, RateLimiter(fake, redis_keys, guard))


def build_services(
    units: MemoryUnitOfWorkFactory,
    clock: FakeClock,
    codec: AccessTokenCodec,
    stores: RedisStores,
    hasher: PasswordHasher,
    limits_used: Limits | None,
    require_verified_email: bool = False,
) -> InMemoryServices:
    """The services, constructed by keyword as server/wiring.py constructs them."""
    page_tokens = PageTokens(b"unit-test secret")
    codes = CodeIssuer(CodeMinter(b"unit-test code key"), CODE_TTL)
    users = UserService(
        units=units,
        hasher=hasher,
        policy=PasswordPolicy(min_length=8),
        cache=stores.users,
        revocations=stores.revocations,
        limiter=stores.limiter,
        limits=limits_used or limits(),
        page_tokens=page_tokens,
        fingerprint_key=b"unit-test fingerprint key",
        codes=codes,
        clock=clock,
    )
    service_accounts = service_account_service(
        units, clock, codec, stores, page_tokens, limits_used
    )
    auth = AuthService(
        units=units,
        hasher=hasher,
        codec=codec,
        verifier=CachingTokenVerifier(codec, max_entries=100),
        revocations=stores.revocations,
        limiter=stores.limiter,
        limits=limits_used or limits(),
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        reuse_grace=REUSE_GRACE,
        clock=clock,
        service_token_live=service_accounts.token_live,
        require_verified_email=require_verified_email,
    )
    verification, resets = recovery_services(units, clock, stores, hasher, codes, limits_used)
    return InMemoryServices(
        units,
        clock,
        users,
        auth,
        service_accounts,
        stores.revocations,
        hasher,
        page_tokens,
        verification,
        resets,
    )


def service_account_service(
    units: MemoryUnitOfWorkFactory,
    clock: FakeClock,
    codec: AccessTokenCodec,
    stores: RedisStores,
    page_tokens: PageTokens,
    limits_used: Limits | None,
) -> ServiceAccountService:
    return ServiceAccountService(
        units=units,
        codec=codec,
        limiter=stores.limiter,
        limits=limits_used or limits(),
        page_tokens=page_tokens,
        token_ttl=ACCESS_TTL,
        secret_grace=dt.timedelta(hours=1),
        clock=clock,
    )


def recovery_services(
    units: MemoryUnitOfWorkFactory,
    clock: FakeClock,
    stores: RedisStores,
    hasher: PasswordHasher,
    codes: CodeIssuer,
    limits_used: Limits | None,
) -> tuple[EmailVerificationService, PasswordResetService]:
    verification = EmailVerificationService(
        units=units,
        codes=codes,
        cache=stores.users,
        limiter=stores.limiter,
        limits=limits_used or limits(),
        clock=clock,
    )
    resets = PasswordResetService(
        units=units,
        codes=codes,
        hasher=hasher,
        policy=PasswordPolicy(min_length=8),
        cache=stores.users,
        revocations=stores.revocations,
        limiter=stores.limiter,
        limits=limits_used or limits(),
        clock=clock,
    )
    return verification, resets


@asynccontextmanager
async def services_in_memory(
    keys_dir: Path, *, limits_used: Limits | None = None, require_verified_email: bool = False
) -> AsyncIterator[InMemoryServices]:
    """`limits_used`: the brute-force limits, when a test needs other than `limits()`."""
    units, clock = MemoryUnitOfWorkFactory(), FakeClock()
    codec = token_codec(keys_dir, clock)
    stores = redis_stores(units)
    with ThreadPoolExecutor(max_workers=1) as pool:
        hasher = PasswordHasher(executor=pool, **TINY_ARGON2)
        try:
            yield build_services(
                units, clock, codec, stores, hasher, limits_used, require_verified_email
            )
        finally:
            await stores.close()


def last_code(svc: InMemoryServices, event_type: str) -> str:
    """The code the newest event of `event_type` carries (what notifications:read would read)."""
    events = [e for e in svc.units.state.events.values() if e.type == event_type]
    return events[-1].secret["code"]
