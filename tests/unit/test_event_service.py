"""EventService over the in-memory unit of work: a watch ends when its caller's token expires or
is revoked, reads only after its cursor, and refuses callers without events:read."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from fakeredis import FakeAsyncRedis

from server.cache.event_signal import EventSignal
from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.domain import SYSTEM, Event, EventType, NewEvent, Principal, Role
from server.errors import PermissionDenied, Reason, Unauthenticated
from server.services.events import EventService
from server.services.paging import PageTokens
from tests.support.memory_uow import MemoryUnitOfWorkFactory
from tests.unit.services_in_memory import FakeClock

HOUR = dt.timedelta(hours=1)


def service(units: MemoryUnitOfWorkFactory, clock: FakeClock) -> EventService:
    signal = EventSignal(FakeAsyncRedis(), RedisKeys("test:"), RedisGuard(timeout_seconds=1))
    return EventService(
        units=units,
        page_tokens=PageTokens(b"k" * 32),
        signal=signal,
        poll_seconds=0.01,
        clock=clock,
    )


async def append(units: MemoryUnitOfWorkFactory, clock: FakeClock, count: int) -> None:
    async with units.transaction() as uow:
        for n in range(count):
            event = NewEvent(EventType.USER_UPDATED, clock(), SYSTEM, None, "", "", {"n": n})
            uow.events.append(event)


def admin(clock: FakeClock) -> Principal:
    return Principal(subject="a", expires_at=clock() + HOUR, session_id=None, role=Role.ADMIN)


def watching(
    events: EventService,
    principal: Principal,
    *,
    after: str = "",
    allowed: list[bool] | None = None,
) -> AsyncIterator[Event]:
    """A watch whose caller stays allowed while `allowed` holds True (always, by default)."""

    async def still_allowed() -> Principal:
        if allowed is not None and not allowed[0]:
            raise Unauthenticated("the session has been revoked", reason=Reason.TOKEN_REVOKED)
        return principal

    return events.watch_events(
        after_cursor=after, types=(), principal=principal, still_allowed=still_allowed
    )


async def test_a_watch_whose_caller_is_revoked_ends_before_the_next_event() -> None:
    units, clock = MemoryUnitOfWorkFactory(), FakeClock()
    await append(units, clock, 2)
    allowed = [True]
    watch = watching(service(units, clock), admin(clock), allowed=allowed)
    assert [(await anext(watch)).id, (await anext(watch)).id] == [1, 2]

    allowed[0] = False  # e.g. RevokeAllSessions acknowledged
    await append(units, clock, 1)
    with pytest.raises(Unauthenticated) as ended:
        await anext(watch)
    assert ended.value.reason == "TOKEN_REVOKED"


async def test_a_watch_ends_with_token_expired_when_the_callers_token_expires() -> None:
    units, clock = MemoryUnitOfWorkFactory(), FakeClock()
    await append(units, clock, 3)
    watch = watching(service(units, clock), admin(clock), after="1")
    assert [event.id for event in [await anext(watch), await anext(watch)]] == [2, 3]
    clock.advance(HOUR)
    with pytest.raises(Unauthenticated) as ended:
        await anext(watch)
    assert ended.value.reason == "TOKEN_EXPIRED"


async def test_a_caller_without_events_read_is_refused() -> None:
    units, clock = MemoryUnitOfWorkFactory(), FakeClock()
    user = dataclasses.replace(admin(clock), role=Role.USER)
    watch = watching(service(units, clock), user)
    with pytest.raises(PermissionDenied):
        await anext(watch)
    with pytest.raises(PermissionDenied):
        await service(units, clock).list_events(size=0, token="", filter_text="", principal=user)
