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
from server.domain import (
    SYSTEM,
    EventData,
    EventType,
    NewEvent,
    Party,
    Principal,
    SessionEnd,
    User,
    UserState,
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


def append_user_changes(
    events: EventRepository,
    before: User,
    after: User,
    *,
    actor: Principal,
    revoked: Iterable[uuid.UUID],
    now: dt.datetime,
) -> None:
    """What UpdateUser changed: user.updated with the names of the plain fields that changed,
    user.role_changed, user.disabled or user.enabled, and the sessions that ended with it."""
    target = Party.user(after.id)
    fields = [name for name in _PLAIN_FIELDS if getattr(before, name) != getattr(after, name)]
    if fields:
        events.append(
            new_event(
                EventType.USER_UPDATED, actor=actor, target=target, now=now, data={"fields": fields}
            )
        )
    if after.role is not before.role:
        events.append(
            new_event(
                EventType.USER_ROLE_CHANGED,
                actor=actor,
                target=target,
                now=now,
                data={"from": before.role.value, "to": after.role.value},
            )
        )
    if after.state is not before.state:
        kind = (
            EventType.USER_DISABLED if after.state is UserState.DISABLED else EventType.USER_ENABLED
        )
        events.append(new_event(kind, actor=actor, target=target, now=now))
    why = SessionEnd.DISABLE if after.state is UserState.DISABLED else SessionEnd.ROLE_CHANGE
    append_revoked(events, revoked, user_id=after.id, why=why, actor=actor, now=now)


# The user's fields whose changes user.updated names (role and state have events of their own).
_PLAIN_FIELDS = ("display_name", "email", "email_verified")


async def record_login_refusal(
    units: UnitOfWorkFactory,
    type: EventType,
    *,
    user_id: uuid.UUID | None,
    why: str,
    now: dt.datetime,
) -> None:
    """login.failed or login.throttled, in its own transaction: the login's did not commit."""
    target = None if user_id is None else Party.user(user_id)
    await record_alone(units, new_event(type, target=target, now=now, data={"why": why}))
