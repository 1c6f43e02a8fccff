"""The event log (item 1 of issue 16): each write path appends its events in its own transaction,
with the actor, target, client address and request id; a transaction rolled back appends
nothing; refused logins are recorded on their own; the purge records expiries and keeps the log
within its retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import text

from server.app import Application
from server.domain import SYSTEM, Event, EventType, NewEvent, Party, PartyKind
from server.repositories.events import EventRepository
from server.security.sealing import SecretBox
from server.services.maintenance import SESSION_RETENTION, purge_expired
from tests.support.accounts import insert_users
from tests.support.flows import (
    PASSWORD,
    auth,
    login,
    logout,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.waiting import eventually
from userservice.v1 import auth_pb2, service_account_pb2_grpc, user_pb2
from userservice.v1 import service_account_pb2 as SA


def service_accounts(
    channel: grpc.aio.Channel,
) -> service_account_pb2_grpc.ServiceAccountServiceAsyncStub:
    return service_account_pb2_grpc.ServiceAccountServiceStub(channel)


REQUEST_ID = "req-events-0001"


async def events_after(app: Application, cursor: int = 0) -> list[Event]:
    async with app.services.units.read() as uow:
        return list(await uow.events.after(cursor, types=frozenset(), limit=10_000))


async def last_id(app: Application) -> int:
    async with app.services.units.read() as uow:
        return await uow.events.last_id()


def kinds(events: list[Event]) -> list[str]:
    return [event.type for event in events]


async def test_sign_up_login_update_and_delete_record_who_did_what(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    start = await last_id(app)
    email = unique_email("evt")
    created = await users(channel).CreateUser(
        user_pb2.CreateUserRequest(email=email, password=PASSWORD, display_name="E"),
        metadata=(("x-request-id", REQUEST_ID),),
    )
    tokens = await login(channel, email)
    await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id=created.id, display_name="F", state=user_pb2.User.STATE_DISABLED),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "state"]),
        ),
        metadata=admin.metadata,
    )
    await users(channel).DeleteUser(
        user_pb2.DeleteUserRequest(id=created.id), metadata=admin.metadata
    )

    events = await events_after(app, start)
    assert kinds(events) == [
        "user.created",
        "session.created",
        "user.updated",
        "user.disabled",
        "session.revoked",
        "user.deleted",
    ]
    target = Party(PartyKind.USER, created.id)
    assert all(event.target == target for event in events)
    signup, session, updated, disabled, revoked, deleted = events
    assert signup.actor.kind is PartyKind.ANONYMOUS
    assert signup.request_id == REQUEST_ID
    assert signup.client_ip == "127.0.0.1"
    assert session.actor == target
    assert session.data == {"session_id": tokens.session_id}
    assert updated.data == {"fields": ["display_name"]}
    assert updated.actor == disabled.actor == deleted.actor == Party(PartyKind.USER, admin.id)
    assert revoked.data == {"session_id": tokens.session_id, "why": "disable"}
    assert [e.id for e in events] == sorted(e.id for e in events)


async def test_password_change_logout_and_refresh_reuse_say_why_sessions_ended(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel, "why")
    other = await login(channel, caller.account.email)
    start = await last_id(app)
    await users(channel).ChangePassword(
        user_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password=PASSWORD + "x"),
        metadata=caller.metadata,
    )
    await logout(channel, caller.tokens.access_token)
    third = await login(channel, caller.account.email, PASSWORD + "x")
    await auth(channel).RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=third.refresh_token)
    )
    await rpc_failure(
        auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=third.refresh_token))
    )

    events = await events_after(app, start)
    assert [(e.type, e.data.get("why"), e.data.get("session_id")) for e in events] == [
        ("password.changed", None, None),
        ("session.revoked", "password_change", other.session_id),
        ("session.revoked", "logout", caller.tokens.session_id),
        ("session.created", None, third.session_id),
        ("session.revoked", "reuse_detected", third.session_id),
    ]
    assert "password" not in str([e.data for e in events]).replace("password_change", "")


async def test_refused_logins_are_recorded_though_their_transaction_does_not_commit(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel, "refused")
    start = await last_id(app)
    await rpc_failure(login(channel, caller.account.email, "not-the-password-at-all"))
    await rpc_failure(login(channel, unique_email("nobody")))
    events = await events_after(app, start)
    assert [(e.type, e.target, e.data) for e in events] == [
        ("login.failed", Party(PartyKind.USER, caller.id), {"why": "wrong_password"}),
        ("login.failed", None, {"why": "unknown_account"}),
    ]
    assert all(e.actor.kind is PartyKind.ANONYMOUS and e.client_ip for e in events)


async def test_a_throttled_login_is_recorded_once_per_window(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel, "throttled")
    start = await last_id(app)
    budget = app.settings.login_failures_per_account_and_ip
    for _ in range(budget + 3):
        await rpc_failure(login(channel, caller.account.email, "wrong-wrong-wrong-wrong"))
    events = await events_after(app, start)
    assert kinds(events).count("login.failed") == budget
    throttled = [e for e in events if e.type == "login.throttled"]
    assert [(e.target, e.data) for e in throttled] == [
        (Party(PartyKind.USER, caller.id), {"why": "rate_limited"})
    ]


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


async def test_service_accounts_and_their_tokens_are_recorded(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    start = await last_id(app)
    made = await service_accounts(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name="Mailer", scopes=["users:read"]),
        metadata=admin.metadata,
    )
    await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=made.service_account.client_id, client_secret=made.client_secret
        )
    )
    await service_accounts(channel).UpdateServiceAccount(
        SA.UpdateServiceAccountRequest(
            service_account=SA.ServiceAccount(
                id=made.service_account.id, state=SA.ServiceAccount.STATE_DISABLED
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=admin.metadata,
    )
    events = await events_after(app, start)
    target = Party(PartyKind.SERVICE_ACCOUNT, made.service_account.id)
    assert [(e.type, e.target, e.data) for e in events] == [
        ("service_account.created", target, {"scopes": ["users:read"]}),
        ("service_token.issued", target, {"scopes": ["users:read"]}),
        ("service_account.disabled", target, {}),
    ]
    assert events[0].actor == events[2].actor == Party(PartyKind.USER, admin.id)
    assert events[1].actor == target


async def test_the_purge_records_expiries_and_drops_events_past_retention(
    app: Application, channel: grpc.aio.Channel
) -> None:
    [user_id] = await insert_users(app, [unique_email("expiry")])
    now = dt.datetime.now(dt.UTC)
    long_ago = now - SESSION_RETENTION - dt.timedelta(hours=1)
    async with app.services.units.transaction() as uow:
        session = await uow.sessions.start(
            user_id=user_id, now=long_ago, expires_at=long_ago, client_ip="", user_agent=""
        )
        for _ in range(3):
            uow.events.append(
                NewEvent(EventType.USER_UPDATED, long_ago, SYSTEM, None, "", "", {"old": True})
            )
    start = await last_id(app)

    purged = await purge_expired(
        app.services.units, now, batch_size=2, event_retention=dt.timedelta(days=1)
    )

    assert purged["sessions"] == 1
    assert purged["events"] >= 3
    remaining = await events_after(app)
    assert not [e for e in remaining if e.data.get("old")]
    expiry = [e for e in remaining if e.id > start]
    assert [(e.type, e.actor, e.target, e.data) for e in expiry] == [
        (
            "session.revoked",
            SYSTEM,
            Party.user(user_id),
            {"session_id": str(session.id), "why": "expiry"},
        )
    ]


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


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_an_operator_made_admin_is_created_by_the_system(
    app: Application, channel: grpc.aio.Channel
) -> None:
    start = await last_id(app)
    admin = await signed_in_admin(app, channel)
    created = (await events_after(app, start))[0]
    assert (created.type, created.actor, created.target) == (
        "user.created",
        SYSTEM,
        Party.user(uuid.UUID(admin.id)),
    )


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
