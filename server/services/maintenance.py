"""Periodic purge, so that no table grows without bound (ARCHITECTURE.md, "State shared
between replicas")."""

from __future__ import annotations

import asyncio
import datetime as dt

import structlog

from server.clock import Clock
from server.errors import DomainError
from server.services.unit_of_work import UnitOfWorkFactory

# Revoked and expired sessions are kept a day (reuse then reads "revoked", not "unknown").
SESSION_RETENTION = dt.timedelta(days=1)


async def purge_expired(units: UnitOfWorkFactory, now: dt.datetime) -> tuple[int, int]:
    async with units.transaction() as uow:
        sessions = await uow.sessions.purge_expired(now - SESSION_RETENTION)
        records = await uow.idempotency.purge_expired(now)
    return sessions, records


async def purge_periodically(
    units: UnitOfWorkFactory, clock: Clock, *, interval_seconds: float
) -> None:
    log = structlog.get_logger("userservice.maintenance")
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            sessions, records = await purge_expired(units, clock())
        except DomainError as exc:  # the database is down: try again next time
            log.warning("purge postponed", reason=exc.reason)
            continue
        if sessions or records:
            log.info("purged", sessions=sessions, idempotency_records=records)
