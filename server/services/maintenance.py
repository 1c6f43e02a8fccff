"""Periodic purge, so that no table grows without bound (the event log beyond its retention too).

However large the backlog, no statement deletes more than `batch_size` rows: each batch is its own
short transaction, well inside the database timeout, and the loop yields to the event loop between
batches. A table is done when a batch comes back short. A failed batch (the database is down) ends
the pass with one warning; what the committed batches deleted stays deleted, and the next pass
goes on from there. (ARCHITECTURE.md, "State shared between replicas".)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

import structlog

from server.clock import Clock
from server.domain import SessionEnd
from server.errors import DomainError
from server.services.event_log import append_revoked
from server.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

# Revoked and expired sessions are kept a day (reuse then reads "revoked", not "unknown").
SESSION_RETENTION = dt.timedelta(days=1)
DEFAULT_EVENT_RETENTION = dt.timedelta(days=90)

PurgeProgress = Callable[[str, int], None]
"""Called after each committed batch with the table's name and the rows the batch deleted."""

_Batch = Callable[[UnitOfWork, int], Awaitable[int]]


def _batches(now: dt.datetime, event_retention: dt.timedelta) -> tuple[tuple[str, _Batch], ...]:
    """What one pass deletes, table by table. A session's refresh tokens go first, in batches of
    their own: a long-lived session can hold thousands, which would otherwise all go with it."""
    ended = now - SESSION_RETENTION

    async def sessions(uow: UnitOfWork, limit: int) -> int:
        purged = await uow.sessions.purge_expired(ended, limit=limit)
        # A session nobody revoked ends here, for the event log: session.revoked, why expiry.
        for session in purged:
            if not session.revoked:
                append_revoked(
                    uow.events,
                    [session.id],
                    user_id=session.user_id,
                    why=SessionEnd.EXPIRY,
                    now=now,
                )
        return len(purged)

    return (
        (
            "refresh_tokens",
            lambda uow, limit: uow.refresh_tokens.purge_of_ended_sessions(ended, limit=limit),
        ),
        ("sessions", sessions),
        ("idempotency_records", lambda uow, limit: uow.idempotency.purge_expired(now, limit=limit)),
        (
            "events",
            lambda uow, limit: uow.events.purge_before(now - event_retention, limit=limit),
        ),
    )


async def purge_expired(
    units: UnitOfWorkFactory,
    now: dt.datetime,
    *,
    batch_size: int,
    event_retention: dt.timedelta = DEFAULT_EVENT_RETENTION,
    progress: PurgeProgress | None = None,
    purged: dict[str, int] | None = None,
) -> dict[str, int]:
    """One pass: rows deleted per table. Raises what a failed batch raised; `purged`, when given,
    holds what was deleted up to then."""
    totals = {} if purged is None else purged
    for table, batch in _batches(now, event_retention):
        totals[table] = 0
        while True:
            async with units.transaction() as uow:
                deleted = await batch(uow, batch_size)
            totals[table] += deleted
            if progress is not None:
                progress(table, deleted)
            if deleted < batch_size:
                break
            await asyncio.sleep(0)  # calls are served between batches
    return totals


async def purge_periodically(
    units: UnitOfWorkFactory,
    clock: Clock,
    *,
    interval_seconds: float,
    batch_size: int,
    event_retention: dt.timedelta = DEFAULT_EVENT_RETENTION,
    progress: PurgeProgress | None = None,
) -> None:
    log = structlog.get_logger("userservice.maintenance")
    while True:
        await asyncio.sleep(interval_seconds)
        started = time.monotonic()
        purged: dict[str, int] = {}
        try:
            await purge_expired(
                units,
                clock(),
                batch_size=batch_size,
                event_retention=event_retention,
                progress=progress,
                purged=purged,
            )
        except DomainError as exc:  # the database is down: the next pass goes on from here
            log.warning("purge postponed", reason=exc.reason, **purged)
            continue
        except Exception:  # a bug must not end the purge for the life of the process
            log.exception("purge failed", **purged)
            continue
        log.info("purged", seconds=round(time.monotonic() - started, 3), **purged)
