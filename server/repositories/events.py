"""The event log over SQL: appended in the unit of work of the change, read in id order.

Appends are buffered and written by `flush`, which the unit of work calls last, just before it
commits. On PostgreSQL the flush first takes a transaction-scoped advisory lock, held until the
commit: event-writing transactions then commit in the order their ids were drawn, so a reader
that sees id N knows every smaller id is committed or gone for good (ARCHITECTURE.md, "The event
log"). SQLite's write units already run one at a time.
"""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import Event, EventFilter, NewEvent, Party, PartyKind
from server.repositories.models import EventRow
from server.security.sealing import SecretBox

# pg_advisory_xact_lock's key for "appending to the event log" (ASCII "usev").
EVENTS_LOCK_KEY: Final = 0x75736576
# Event types that change what a cached user holds (every replica's poll reads them).
USER_CHANGE_PREFIXES: Final = ("user.", "password.", "email.")


class EventRepository:
    """`box` seals the secret part of events at rest."""

    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box
        self._pending: list[NewEvent] = []

    def append(self, event: NewEvent) -> None:
        self._pending.append(event)

    async def flush(self) -> collections.Counter[str]:
        """Writes the appended events; how many of each type (empty: none). The unit of work
        commits next."""
        if not self._pending:
            return collections.Counter()
        written = collections.Counter(event.type.value for event in self._pending)
        rows, self._pending = [self._row(event) for event in self._pending], []
        if self._session.get_bind().dialect.name == "postgresql":
            await self._session.execute(select(func.pg_advisory_xact_lock(EVENTS_LOCK_KEY)))
        await self._session.execute(insert(EventRow), rows)
        return written

    async def after(self, cursor: int, *, types: frozenset[str], limit: int) -> Sequence[Event]:
        query = select(EventRow).where(EventRow.id > cursor)
        if types:
            query = query.where(EventRow.type.in_(sorted(types)))
        return await self._events(query.order_by(EventRow.id).limit(limit))

    async def page(self, *, where: EventFilter, after: int | None, limit: int) -> Sequence[Event]:
        query = select(EventRow).where(*_conditions(where))
        if after is not None:
            query = query.where(EventRow.id > after)
        return await self._events(query.order_by(EventRow.id).limit(limit))

    async def users_changed_since(self, since: dt.datetime) -> Sequence[uuid.UUID]:
        """Users that a user.*, password.* or email.* event recorded since `since` names."""
        query = (
            select(EventRow.target_id)
            .where(
                EventRow.created_at >= since,
                EventRow.target_kind == PartyKind.USER.value,
                or_(*(EventRow.type.startswith(prefix) for prefix in USER_CHANGE_PREFIXES)),
            )
            .distinct()
        )
        return [uuid.UUID(t) for t in (await self._session.execute(query)).scalars() if t]

    async def last_id(self) -> int:
        return int((await self._session.execute(select(func.max(EventRow.id)))).scalar() or 0)

    async def purge_before(self, before: dt.datetime, *, limit: int) -> int:
        batch = select(EventRow.id).where(EventRow.created_at < before).limit(limit)
        result = await self._session.execute(
            delete(EventRow).where(EventRow.id.in_(batch.scalar_subquery()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _events(self, query: Select[EventRow]) -> list[Event]:
        return [self._event(row) for row in (await self._session.execute(query)).scalars()]

    def _row(self, event: NewEvent) -> dict[str, Any]:
        return {
            "created_at": event.created_at,
            "type": event.type.value,
            "actor_kind": event.actor.kind.value,
            "actor_id": event.actor.id,
            "target_kind": None if event.target is None else event.target.kind.value,
            "target_id": None if event.target is None else event.target.id,
            "client_ip": event.client_ip[:64],
            "request_id": event.request_id[:64],
            "data": dict(event.data),
            "secret_sealed": self._box.seal(event.secret) if event.secret else None,
        }

    def _event(self, row: EventRow) -> Event:
        target = (
            None
            if row.target_kind is None
            else Party(PartyKind(row.target_kind), row.target_id or "")
        )
        return Event(
            id=row.id,
            type=row.type,
            created_at=row.created_at,
            actor=Party(PartyKind(row.actor_kind), row.actor_id),
            target=target,
            client_ip=row.client_ip,
            request_id=row.request_id,
            data=row.data,
            secret={} if row.secret_sealed is None else self._box.open(row.secret_sealed),
        )


def _conditions(where: EventFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.types:
        conditions.append(EventRow.type.in_(sorted(where.types)))
    if where.actor_id is not None:
        conditions.append(EventRow.actor_id == where.actor_id)
    if where.target_id is not None:
        conditions.append(EventRow.target_id == where.target_id)
    if where.since is not None:
        conditions.append(EventRow.created_at >= where.since)
    if where.until is not None:
        conditions.append(EventRow.created_at < where.until)
    return conditions
