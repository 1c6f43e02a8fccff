"""What a change event says: which fields changed (never their values) and which state moved,
derived from the record before and after the change."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from server.domain import (
    EventType,
    NewEvent,
    Party,
    Principal,
    ServiceAccount,
    ServiceAccountState,
    SessionEnd,
    User,
    UserState,
)
from server.services.event_log import append_revoked, new_event
from server.services.unit_of_work import EventRepository


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


def account_change_events(
    before: ServiceAccount, after: ServiceAccount, now: dt.datetime
) -> list[NewEvent]:
    """service_account.updated with the names of the fields that changed, and .disabled or
    .enabled when its state did."""
    target = Party.service_account(after.id)
    events = []
    fields = [
        name for name in ("display_name", "scopes") if getattr(before, name) != getattr(after, name)
    ]
    if fields:
        events.append(
            new_event(
                EventType.SERVICE_ACCOUNT_UPDATED, target=target, now=now, data={"fields": fields}
            )
        )
    if after.state is not before.state:
        kind = (
            EventType.SERVICE_ACCOUNT_DISABLED
            if after.state is ServiceAccountState.DISABLED
            else EventType.SERVICE_ACCOUNT_ENABLED
        )
        events.append(new_event(kind, target=target, now=now))
    return events
