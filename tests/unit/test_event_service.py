"""EventService over the in-memory unit of work: a watch ends when its caller's token expires,
reads only after its cursor, and refuses callers without events:read."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from fakeredis import FakeAsyncRedis

from server.cache.event_signal import EventSignal
from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.domain import SYSTEM, EventType, NewEvent, Principal, Role
from server.errors import PermissionDenied, Unauthenticated
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


async def test_a_watch_ends_with_token_expired_when_the_callers_token_expires() -> None:
    units, clock = MemoryUnitOfWorkFactory(), FakeClock()
    await append(units, clock, 3)
    watch = service(units, clock).watch_events(after_cursor="1", types=(), principal=admin(clock))
    assert [event.id for event in [await anext(watch), await anext(watch)]] == [2, 3]
    clock.advance(HOUR)
    with pytest.raises(Unauthenticated) as ended:
        await anext(watch)
    assert ended.value.reason == "TOKEN_EXPIRED"


async def test_a_caller_without_events_read_is_refused() -> None:
    units, clock = MemoryUnitOfWorkFactory(), FakeClock()
    user = dataclasses.replace(admin(clock), role=Role.USER)
    watch = service(units, clock).watch_events(after_cursor="", types=(), principal=user)
    with pytest.raises(PermissionDenied):
        await anext(watch)
    with pytest.raises(PermissionDenied):
        await service(units, clock).list_events(size=0, token="", filter_text="", principal=user)
