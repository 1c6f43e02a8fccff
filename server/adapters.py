"""Adapters: what the services stand on — signing keys, the database and its units of work, and
the caches over Redis with the replica's database poll. Built by the composition root
(server/app.py) and by operators' commands alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from server.cache.client import Redis
from server.cache.event_signal import EventSignal
from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.cache.rate_limit import RateLimiter
from server.cache.replica import POLL_OVERLAP, LocalReplica
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.clock import utc_now
from server.config import Settings
from server.observability.spans import SpanOpener
from server.repositories.database import Database
from server.repositories.unit_of_work import SqlUnitOfWorkFactory
from server.security.keys import CLOCK_LEEWAY, KeySet, generate_key, load_key_set
from server.security.sealing import SecretBox, event_secret_key
from server.security.tokens import AccessTokenCodec
from server.wiring import Adapters, page_token_secret


def build_adapters(
    settings: Settings, engine: AsyncEngine, redis: Redis, spans: SpanOpener | None = None
) -> Adapters:
    """Signing keys (one generated in development), the database, and the caches over Redis;
    `spans` opens the child spans of database and Redis work when tracing is on."""
    access_ttl = dt.timedelta(seconds=settings.access_token_ttl_seconds)
    keys = signing_keys(settings, access_ttl)
    codec = AccessTokenCodec(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    db = Database(engine, timeout_seconds=settings.database_timeout_seconds, spans=spans)
    redis_keys = RedisKeys(settings.redis_key_prefix)
    guard = RedisGuard(timeout_seconds=settings.redis_timeout_seconds, spans=spans)
    event_signal = EventSignal(redis, redis_keys, guard)
    box = SecretBox(event_secret_key(page_token_secret(settings)))
    units = SqlUnitOfWorkFactory(db, box, events_committed=event_signal.committed)
    recent = RecentChanges(units)
    # Started by the server (running_application); the CLI never goes live and asks Redis.
    replica = LocalReplica(
        redis,
        redis_keys,
        retention=access_ttl + CLOCK_LEEWAY,
        recent_revocations=recent.revocations,
        max_users=settings.user_cache_size,
        user_ttl_seconds=settings.user_cache_ttl_seconds,
        poll_seconds=settings.revocation_poll_seconds,
        events_appended=event_signal.wake,
        recent_user_changes=recent.users,
        user_floor_seconds=settings.user_cache_redis_ttl_seconds + POLL_OVERLAP.total_seconds(),
    )
    return Adapters(
        db=db,
        units=units,
        codec=codec,
        replica=replica,
        revocations=RevocationStore(
            redis,
            redis_keys,
            guard,
            replica,
            retention=access_ttl + CLOCK_LEEWAY,
            recent_revocations=recent.revocations,
        ),
        user_cache=UserCache(
            redis, redis_keys, guard, replica, ttl_seconds=settings.user_cache_redis_ttl_seconds
        ),
        limiter=RateLimiter(redis, redis_keys, guard),
        redis_guard=guard,
        event_signal=event_signal,
    )


def signing_keys(settings: Settings, access_ttl: dt.timedelta) -> KeySet:
    """The key set of the keys directory; in development, a first key is generated."""
    now = utc_now()
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("userservice")
    if not settings.is_production and not any(settings.keys_dir.glob("*.pem")):
        path = generate_key(settings.keys_dir, settings.jwt_algorithm, now=now)
        log.info("signing key generated", path=str(path.resolve()))
    else:
        log.info("signing keys", directory=str(settings.keys_dir.resolve()))
    return load_key_set(
        settings.keys_dir,
        settings.jwt_algorithm,
        access_token_ttl=access_ttl,
        now=now,
        activation=dt.timedelta(seconds=settings.jwt_key_activation_seconds),
    )


@dataclass(frozen=True, slots=True)
class RecentChanges:
    """What each replica's database poll reads (server/cache/replica.py)."""

    units: SqlUnitOfWorkFactory

    async def revocations(self, since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        async with self.units.read() as uow:
            return await uow.sessions.revoked_since(since)

    async def users(self, since: dt.datetime) -> Sequence[tuple[uuid.UUID, int | None]]:
        """Users changed since then, each with its version now (None: deleted)."""
        async with self.units.read() as uow:
            changed = await uow.events.users_changed_since(since)
            versions = await uow.users.versions(changed)
        return [(user_id, versions.get(user_id)) for user_id in changed]
