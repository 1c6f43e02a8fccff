"""The in-memory event log: the twin of server/repositories/events.py over one `MemoryState`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from server.domain import Event, EventFilter, NewEvent
from tests.support.memory_repositories import MemoryState


class MemoryEvents:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def append(self, event: NewEvent) -> None:
        # The unit of work's copy of the state is published only if it commits.
        self._state.event_ids["last"] += 1
        number = self._state.event_ids["last"]
        self._state.events[number] = Event(
            id=number,
            type=event.type.value,
            created_at=event.created_at,
            actor=event.actor,
            target=event.target,
            client_ip=event.client_ip,
            request_id=event.request_id,
            data=dict(event.data),
            secret=dict(event.secret),
        )

    async def after(self, cursor: int, *, types: frozenset[str], limit: int) -> Sequence[Event]:
        found = (e for e in self._in_order() if e.id > cursor and (not types or e.type in types))
        return list(found)[:limit]

    async def page(self, *, where: EventFilter, after: int | None, limit: int) -> Sequence[Event]:
        found = (
            e for e in self._in_order() if (after is None or e.id > after) and _matches(e, where)
        )
        return list(found)[:limit]

    async def last_id(self) -> int:
        return max(self._state.events, default=0)

    async def purge_before(self, before: dt.datetime, *, limit: int) -> int:
        gone = [e.id for e in self._in_order() if e.created_at < before][:limit]
        for number in gone:
            del self._state.events[number]
        return len(gone)

    def _in_order(self) -> list[Event]:
        return [self._state.events[number] for number in sorted(self._state.events)]


def _matches(event: Event, where: EventFilter) -> bool:
    return (
        (not where.types or event.type in where.types)
        and (where.actor_id is None or event.actor.id == where.actor_id)
        and (
            where.target_id is None
            or (event.target is not None and event.target.id == where.target_id)
        )
        and (where.since is None or event.created_at >= where.since)
        and (where.until is None or event.created_at < where.until)
    )
