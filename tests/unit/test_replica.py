"""LocalReplica: the process's own copy of revoked sessions and recently read users
(ARCHITECTURE.md, "Replication and faults").

Each test runs a replica on its own harness (tests/support/replica_harness.py): an in-process Redis
it can disconnect, and a stand-in for the database query that lists recent revocations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

from fakeredis import FakeAsyncRedis

from server.cache.replica import sessions_revoked_message, user_changed_message
from tests.support.replica_harness import (
    WITHIN_SECONDS,
    Database,
    SlowSubscribeLink,
    a_user,
    eventually,
    live,
    replica_of,
)


async def test_a_user_read_before_a_change_was_heard_is_not_remembered() -> None:
    async with replica_of() as harness:
        replica = (await live(harness)).replica
        user = a_user()
        read_began_at = replica.generation  # a read of the user starts here...

        await harness.publish(user_changed_message(user.id))  # ...the user changes meanwhile
        await eventually(lambda: replica.generation != read_began_at, "user_changed heard")
        replica.remember_user(user, read_began_at)  # ...and the read ends with the old user

        assert replica.user(user.id) is None
        replica.remember_user(user, replica.generation)  # a read that began after the change
        assert replica.user(user.id) == user


async def test_revocation_is_unknown_while_not_live_but_a_heard_revocation_is_final() -> None:
    revoked, other = uuid.uuid4(), uuid.uuid4()
    async with replica_of(running=False) as idle:
        assert idle.replica.is_revoked(other) is None  # never subscribed: ask Redis or the DB

    async with replica_of() as harness:
        replica = (await live(harness)).replica
        assert replica.is_revoked(revoked) is False  # live: no round trip for a live session

        await harness.publish(sessions_revoked_message([revoked]))
        await eventually(lambda: replica.is_revoked(revoked) is True, "revocation heard")

        harness.disconnect_redis()
        await eventually(lambda: not replica.live, "replica not live once Redis is gone")
        assert replica.is_revoked(revoked) is True
        assert replica.is_revoked(other) is None


async def test_going_live_loads_the_revocations_the_database_holds() -> None:
    before = uuid.uuid4()
    database = Database(revoked=[(before, dt.datetime.now(dt.UTC))])
    async with replica_of(database=database) as harness:
        replica = (await live(harness)).replica

        assert replica.is_revoked(before) is True
        assert replica.is_revoked(uuid.uuid4()) is False


async def test_an_unreadable_event_is_ignored_and_the_replica_stays_live() -> None:
    unreadable: list[str | bytes] = [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"a string"',
        b"null",
        b'{"no": "type"}',
        b'{"type": "user_changed"}',
        b'{"type": "user_changed", "id": "not-a-uuid"}',
        b'{"type": "user_changed", "id": 7}',
        b'{"type": "sessions_revoked", "ids": 7}',
        b'{"type": "sessions_revoked", "ids": [42]}',
        b'{"type": "sessions_revoked", "ids": [{"id": "x"}]}',
        b"[" * 100_000,
    ]
    revoked = uuid.uuid4()
    async with replica_of() as harness:
        replica = (await live(harness)).replica
        generation, rebuilds = replica.generation, harness.database.reads

        for message in unreadable:
            await harness.publish(message)
        await harness.publish(sessions_revoked_message([revoked]))  # delivered after them all
        await eventually(lambda: replica.is_revoked(revoked) is True, "the readable event heard")

        assert replica.live
        # No reconnect and rebuild happened, and no garbage counted as a user change.
        assert (harness.database.reads, replica.generation) == (rebuilds, generation)


async def test_a_remembered_user_expires_after_user_ttl_seconds() -> None:
    ttl = 0.3
    async with replica_of(user_ttl_seconds=ttl) as harness:
        replica = (await live(harness)).replica
        user = a_user()
        remembered_at = time.monotonic()
        replica.remember_user(user, replica.generation)
        assert replica.user(user.id) == user

        await eventually(lambda: replica.user(user.id) is None, "the user copy expired")

        assert time.monotonic() - remembered_at >= ttl
        assert replica.live  # it was the expiry, not a lost subscription, that dropped it


async def test_a_reconnect_drops_the_users_remembered_before_it() -> None:
    async with replica_of() as harness:
        replica = (await live(harness)).replica
        user = a_user()
        replica.remember_user(user, replica.generation)
        assert replica.user(user.id) == user

        harness.disconnect_redis()  # changes announced now are never heard here
        await eventually(lambda: not replica.live, "replica not live once Redis is gone")
        reads = harness.database.reads
        harness.reconnect_redis()
        await live(harness)

        assert replica.user(user.id) is None
        assert harness.database.reads == reads + 1  # polled again after subscribing again


async def test_the_rebuild_reads_the_database_only_once_redis_has_registered_the_subscription() -> (
    None
):
    """Otherwise a revocation committed after the rebuild's read, and announced before Redis
    registered the subscription, would never be heard, and its token accepted while live."""
    links: list[SlowSubscribeLink] = []

    def slow(redis: FakeAsyncRedis) -> SlowSubscribeLink:
        links.append(SlowSubscribeLink(redis))
        return links[-1]

    revoked = uuid.uuid4()
    async with replica_of(link=slow) as harness:
        (link,) = links
        await asyncio.wait_for(link.sent.wait(), WITHIN_SECONDS)  # SUBSCRIBE on its way

        # Another replica commits a revocation and announces it, before the SUBSCRIBE lands.
        harness.database.revoked.append((revoked, dt.datetime.now(dt.UTC)))
        await harness.publish(sessions_revoked_message([revoked]))
        link.deliver()
        replica = (await live(harness)).replica

        assert replica.is_revoked(revoked) is True
