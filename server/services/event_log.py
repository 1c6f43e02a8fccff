"""Recording events: what a service appends to `uow.events` in the unit of work of a change.

    uow.events.append(new_event(EventType.USER_CREATED, target=Party.user(user.id), now=now))

The request id, the client's address and, unless given, the actor come from the call
(server/call_origin.py): the actor is the caller's user or service account, ANONYMOUS for a
call without a token, SYSTEM outside any call (the purge, an operator's command). Data
holds names and ids, never values of secrets; `secret` holds what only notifications:read may
read. A failure that rolls its unit of work back (a refused login) records its event in a small
transaction of its own: `record_alone`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

from server.call_origin import origin_var
from server.clock import Clock
from server.domain import (
    SYSTEM,
    EventData,
    EventType,
    NewEvent,
    Party,
    Principal,
    SessionEnd,
)
from server.services.unit_of_work import EventRepository, UnitOfWorkFactory


def new_event(
    type: EventType,
    *,
    target: Party | None,
    now: dt.datetime,
    actor: Principal | Party | None = None,
    data: EventData | None = None,
    secret: Mapping[str, str] | None = None,
) -> NewEvent:
    """`actor`: a principal or party; None for the call's caller."""
    origin = origin_var.get()
    if actor is None:
        actor = SYSTEM if origin is None else Party.of(origin.principal())
    return NewEvent(
        type=type,
        created_at=now,
        actor=actor if isinstance(actor, Party) else Party.of(actor),
        target=target,
        client_ip="" if origin is None else origin.client_ip(),
        request_id="" if origin is None else origin.request_id,
        data={} if data is None else data,
        secret={} if secret is None else secret,
    )


def append_revoked(
    events: EventRepository,
    session_ids: Iterable[uuid.UUID],
    *,
    user_id: uuid.UUID | None,
    why: SessionEnd,
    now: dt.datetime,
    actor: Principal | Party | None = None,
) -> None:
    """One session.revoked event per session, each saying why (actor None: the caller)."""
    target = None if user_id is None else Party.user(user_id)
    for session_id in session_ids:
        events.append(
            new_event(
                EventType.SESSION_REVOKED,
                actor=actor,
                target=target,
                now=now,
                data={"session_id": str(session_id), "why": why.value},
            )
        )


async def record_alone(units: UnitOfWorkFactory, event: NewEvent) -> None:
    """Records one event in a transaction of its own: for what happens when the call's own unit
    of work does not commit (a failed or throttled login)."""
    async with units.transaction() as uow:
        uow.events.append(event)


class LoginRefusals:
    """login.failed and login.throttled, each in its own transaction: the login's own unit of
    work does not commit when it refuses."""

    def __init__(self, units: UnitOfWorkFactory, clock: Clock) -> None:
        self._units = units
        self._clock = clock

    async def failed(self, user_id: uuid.UUID | None, why: str) -> None:
        await self._record(EventType.LOGIN_FAILED, user_id, why)

    async def throttled(self, email: str) -> None:
        """The first refusal of a limit window; the account is looked up only now."""
        async with self._units.read() as uow:
            stored = await uow.users.get_by_email(email)
        await self._record(
            EventType.LOGIN_THROTTLED, None if stored is None else stored.user.id, "rate_limited"
        )

    async def _record(self, kind: EventType, user_id: uuid.UUID | None, why: str) -> None:
        target = None if user_id is None else Party.user(user_id)
        event = new_event(kind, target=target, now=self._clock(), data={"why": why})
        await record_alone(self._units, event)
