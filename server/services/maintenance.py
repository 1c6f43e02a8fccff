"""Periodic purge, so that no table grows without bound (DESIGN §6)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import structlog

from server.errors import DomainError
from server.repositories.database import Database
from server.repositories.idempotency import IdempotencyRepository
from server.repositories.sessions import SessionRepository

# Revoked and expired sessions are kept a day (reuse then reads "revoked", not "unknown").
SESSION_RETENTION = dt.timedelta(days=1)


async def purge_expired(db: Database, now: dt.datetime) -> tuple[int, int]:
    async with db.transaction() as session:
        sessions = await SessionRepository(session).purge_expired(now - SESSION_RETENTION)
        records = await IdempotencyRepository(session).purge_expired(now)
    return sessions, records


async def purge_periodically(
    db: Database, clock: Callable[[], dt.datetime], *, interval_seconds: float
) -> None:
    log = structlog.get_logger("userservice.maintenance")
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            sessions, records = await purge_expired(db, clock())
        except DomainError as exc:  # the database is down: try again next time
            log.warning("purge postponed", reason=exc.reason)
            continue
        if sessions or records:
            log.info("purged", sessions=sessions, idempotency_records=records)
