"""EventService (issue 16, item 2): who may read, the secret part, the audit query, and a watch
that replays from a cursor then follows, exactly once and in cursor order."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import grpc.aio
import pytest
from sqlalchemy import select

from server.app import Application
from server.domain import EventType
from server.repositories.models import EventRow
from tests.support.events import append_event, events, service_metadata, take, watch
from tests.support.flows import (
    PASSWORD,
    auth,
    login,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from userservice.v1 import auth_pb2, events_pb2, user_pb2

CODE = {"code": "493817"}


async def list_all(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], filter_text: str = ""
) -> list[events_pb2.Event]:
    found: list[events_pb2.Event] = []
    token = ""
    while True:
        page = await events(channel).ListEvents(
            events_pb2.ListEventsRequest(filter=filter_text, page_size=3, page_token=token),
            metadata=metadata,
        )
        found.extend(page.events)
        token = page.next_page_token
        if not token:
            return found


async def sign_up(channel: grpc.aio.Channel, label: str) -> user_pb2.User:
    return await users(channel).CreateUser(
        user_pb2.CreateUserRequest(email=unique_email(label), password=PASSWORD, display_name="W")
    )


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_user_token_is_refused_and_events_read_or_an_admin_is_allowed(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    user = await signed_in_user(channel, "nosy")
    reader = await service_metadata(channel, admin, ["events:read"])
    other_service = await service_metadata(channel, admin, ["users:read"])
    request = events_pb2.ListEventsRequest()
    for refused in (user.metadata, other_service):
        failure = await rpc_failure(events(channel).ListEvents(request, metadata=refused))
        assert failure.code is grpc.StatusCode.PERMISSION_DENIED
        stream_failure = await rpc_failure(take(watch(channel, refused), 1))
        assert stream_failure.code is grpc.StatusCode.PERMISSION_DENIED
    unauthenticated = await rpc_failure(take(watch(channel, ()), 1))
    assert unauthenticated.code is grpc.StatusCode.UNAUTHENTICATED
    for allowed in (reader, admin.metadata):
        assert (await events(channel).ListEvents(request, metadata=allowed)).events
        assert len(await take(watch(channel, allowed), 1)) == 1


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_secret_part_reaches_only_notifications_read(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    reader = await service_metadata(channel, admin, ["events:read"])
    notifier = await service_metadata(channel, admin, ["events:read", "notifications:read"])
    cursor = await append_event(app, data={"purpose": "test"}, secret=CODE)
    filter_text = f'type = "{EventType.USER_UPDATED}"'
    async with app.services.db.read() as session:
        [sealed] = (
            await session.execute(select(EventRow.secret_sealed).where(EventRow.id == cursor))
        ).scalars()
    assert sealed is not None
    assert CODE["code"].encode() not in sealed  # sealed at rest
    for metadata, secret in ((admin.metadata, {}), (reader, {}), (notifier, CODE)):
        [listed] = await list_all(channel, metadata, filter_text)
        [watched] = await take(watch(channel, metadata, str(cursor - 1)), 1)
        assert listed == watched
        assert (listed.cursor, dict(listed.secret)) == (str(cursor), secret)
        assert dict(listed.data) == {"purpose": "test"}


async def test_list_events_filters_by_type_actor_target_and_time_in_keyset_pages(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    alice = await signed_in_user(channel, "alice")
    await login(channel, alice.account.email)
    old = await append_event(app, at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    everything = await list_all(channel, admin.metadata)
    cursors = [int(e.cursor) for e in everything]
    assert cursors == sorted(set(cursors))

    about_alice = await list_all(channel, admin.metadata, f'target = "{alice.id}"')
    assert [e.type for e in about_alice] == ["user.created", "session.created", "session.created"]
    by_alice = await list_all(
        channel, admin.metadata, f'actor = "{alice.id}" AND type = "session.created"'
    )
    assert len(by_alice) == 2
    before_2021 = await list_all(channel, admin.metadata, 'create_time < "2021-01-01T00:00:00Z"')
    assert [e.cursor for e in before_2021] == [str(old)]
    since_2021 = await list_all(channel, admin.metadata, 'create_time >= "2021-01-01T00:00:00Z"')
    assert len(since_2021) == len(everything) - 1

    for bad in ('type = "no.such"', 'create_time >= "yesterday"', 'colour = "red"'):
        failure = await rpc_failure(
            events(channel).ListEvents(
                events_pb2.ListEventsRequest(filter=bad), metadata=admin.metadata
            )
        )
        assert (failure.code, failure.error_info.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_FILTER",
        )
    first = await events(channel).ListEvents(
        events_pb2.ListEventsRequest(page_size=1), metadata=admin.metadata
    )
    other_filter = await rpc_failure(
        events(channel).ListEvents(
            events_pb2.ListEventsRequest(
                filter='type = "user.created"', page_token=first.next_page_token
            ),
            metadata=admin.metadata,
        )
    )
    assert other_filter.error_info.reason == "INVALID_PAGE_TOKEN"


async def test_a_watch_replays_from_its_cursor_then_follows_new_events(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    before = await sign_up(channel, "before")
    stream = watch(channel, admin.metadata, types=["user.created"])
    replayed = await take(stream, 2)  # the admin, then `before`
    assert replayed[1].target.id == before.id
    after = await sign_up(channel, "after")
    [followed] = await take(stream, 1)
    assert (followed.type, followed.target.id) == ("user.created", after.id)
    assert int(followed.cursor) > int(replayed[1].cursor)
    stream.cancel()

    resumed = watch(channel, admin.metadata, after=replayed[1].cursor, types=["user.created"])
    assert await take(resumed, 1) == [followed]
    resumed.cancel()


async def test_a_watch_ends_once_its_callers_sessions_are_revoked_and_shows_nothing_later(
    app: Application, channel: grpc.aio.Channel
) -> None:
    """Red team: a stream outlived RevokeAllSessions of its caller and kept streaming."""
    admin = await signed_in_admin(app, channel)
    stream = watch(channel, admin.metadata, after="now", types=["user.created"])
    before = await sign_up(channel, "seen")
    [seen] = await take(stream, 1)
    assert seen.target.id == before.id

    await auth(channel).RevokeAllSessions(
        auth_pb2.RevokeAllSessionsRequest(user_id="me"), metadata=admin.metadata
    )
    await sign_up(channel, "not-seen")  # committed after the revocation was acknowledged

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await take(stream, 1)
    assert ended.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "TOKEN_REVOKED" in str(ended.value.trailing_metadata())


async def test_a_watch_from_now_skips_what_was_committed_before(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    newest_before = await append_event(app)
    from_now = watch(channel, admin.metadata, after="now")
    first = asyncio.create_task(take(from_now, 1))
    while not first.done():  # the server reads "now" when the call reaches it: keep writing
        await append_event(app, data={"marker": "yes"})
        await asyncio.wait({first}, timeout=0.05)
    [event] = first.result()
    assert int(event.cursor) > newest_before
    assert dict(event.data) == {"marker": "yes"}
    from_now.cancel()


async def test_a_watch_refuses_a_bad_cursor_or_type(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)

    failure = await rpc_failure(take(watch(channel, admin.metadata, after="-1"), 1))
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    failure = await rpc_failure(take(watch(channel, admin.metadata, types=["nope"]), 1))
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_concurrent_writers_reach_a_live_watcher_and_a_replay_exactly_once_in_order(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    live = watch(channel, admin.metadata, after=str(await append_event(app)))
    await append_event(app)  # the watcher is following once it has this one
    await take(live, 1)
    writers = 24
    barrier = asyncio.Barrier(writers)

    async def write(index: int) -> None:
        await barrier.wait()
        if index % 2:
            await sign_up(channel, f"w{index}")
        else:
            await append_event(app, data={"writer": str(index)})

    await asyncio.gather(*(write(i) for i in range(writers)))
    committed = await list_all(channel, admin.metadata)
    heard = await take(live, writers)
    assert heard == committed[-writers:]
    replayed = await take(watch(channel, admin.metadata, after="0"), len(committed))
    assert replayed == committed
    cursors = [int(e.cursor) for e in replayed]
    assert cursors == sorted(set(cursors))
    live.cancel()
