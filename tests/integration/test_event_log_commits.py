"""The event log (item 1 of issue 16): events commit with their transaction (a transaction
rolled back appends nothing), and ids are distinct and commit in increasing order."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import text

from server.app import Application
from server.domain import SYSTEM, EventType, NewEvent
from server.repositories.events import EventRepository
from server.security.sealing import SecretBox
from tests.support.events import events_after, last_id
from tests.support.flows import PASSWORD, rpc_failure, signed_in_user, unique_email, users
from tests.support.waiting import eventually
from userservice.v1 import user_pb2


async def test_a_rolled_back_transaction_appends_nothing(
    app: Application, channel: grpc.aio.Channel
) -> None:
    first = await signed_in_user(channel, "first")
    second = await signed_in_user(channel, "second")
    start = await last_id(app)
    # The email is taken: the update fails inside its transaction, after its events were added.
    failure = await rpc_failure(
        users(channel).UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(id="me", email=first.account.email),
                update_mask=field_mask_pb2.FieldMask(paths=["email"]),
                current_password=PASSWORD,
            ),
            metadata=second.metadata,
        )
    )
    assert failure.code is grpc.StatusCode.ALREADY_EXISTS
    event = NewEvent(
        type=EventType.USER_UPDATED,
        created_at=dt.datetime.now(dt.UTC),
        actor=SYSTEM,
        target=None,
        client_ip="",
        request_id="",
    )

    async def append_then_fail() -> None:
        async with app.services.units.transaction() as uow:
            uow.events.append(event)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await append_then_fail()
    assert await events_after(app, start) == []


async def test_concurrent_writers_get_distinct_increasing_ids(
    app: Application, channel: grpc.aio.Channel
) -> None:
    callers = 12
    start = await last_id(app)
    barrier = asyncio.Barrier(callers)

    async def sign_up(index: int) -> str:
        await barrier.wait()
        created = await users(channel).CreateUser(
            user_pb2.CreateUserRequest(
                email=unique_email(f"c{index}"), password=PASSWORD, display_name="C"
            )
        )
        return created.id

    made = set(await asyncio.gather(*(sign_up(i) for i in range(callers))))
    events = await events_after(app, start)
    assert {e.target.id for e in events if e.target} == made
    assert len(events) == callers == len({e.id for e in events})


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_later_id_never_commits_before_an_earlier_one(app: Application) -> None:
    """The outbox gap: id N+1 visible while N is still in flight would let a reader step past
    N. Here the first transaction has drawn its id and holds; the second waits for it."""
    release = asyncio.Event()
    first_drawn = asyncio.Event()

    def event(note: str) -> NewEvent:
        now = dt.datetime.now(dt.UTC)
        return NewEvent(EventType.USER_UPDATED, now, SYSTEM, None, "", "", {"note": note})

    async def first() -> None:
        async with app.services.db.transaction() as session:
            log = EventRepository(session, SecretBox(bytes(32)))
            log.append(event("first"))
            await log.flush()  # the id is drawn and the lock held, not yet committed
            first_drawn.set()
            await release.wait()

    async def second() -> None:
        async with app.services.units.transaction() as uow:
            uow.events.append(event("second"))

    start = await last_id(app)
    holding = asyncio.create_task(first())
    await first_drawn.wait()
    waiting = asyncio.create_task(second())

    async def second_blocked_on_the_lock() -> bool:
        async with app.services.db.read() as session:
            blocked = await session.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
            return bool(blocked.scalar())

    await eventually(second_blocked_on_the_lock, within=5.0, what="the second writer waiting")
    assert await events_after(app, start) == []  # nothing visible while the first is in flight
    release.set()
    await asyncio.gather(holding, waiting)
    assert [e.data["note"] for e in await events_after(app, start)] == ["first", "second"]
