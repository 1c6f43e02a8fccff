"""Each replica's own copy of revoked sessions and recently read users (ARCHITECTURE.md,
"Replication and faults").

A replica keeps both copies current from the Redis events channel and trusts them only while
*live*: subscribed, rebuilt from the database after subscribing, and hearing its own heartbeat.
While live, a warm read and a revocation check cost no round trip; a change made on any replica
reaches every other within a second; after a reconnect the copies are rebuilt, so nothing
announced while the channel was down is missed; while not live, every call asks Redis or the
database instead — slower, never wrong.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2

from server.app import Application
from server.domain import User
from tests.support.backends import Backend, postgres_database
from tests.support.flows import (
    Caller,
    auth,
    bearer,
    first_refusal,
    get_me,
    login,
    logout,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    users,
)
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.redis_keys import revocations_loaded_key, revoked_key, user_key
from tests.support.rich_errors import RichError
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually
from userservice.v1 import auth_pb2, user_pb2

# A replica subscribes, rebuilds and hears its first heartbeat within milliseconds.
LIVE_SECONDS = 3.0
# ARCHITECTURE.md, "Invariants": a change on one replica is honoured by all within a second.
PROPAGATION_SECONDS = 1.0
# The connection breaks at once on a kill; a hung Redis shows as a missing heartbeat (2 s).
NOT_LIVE_SECONDS = 5.0
# Reconnect attempts back off up to 5 s apart.
LIVE_AGAIN_SECONDS = 15.0
# Without a live copy a call may wait out one Redis timeout (0.5 s) before the guard skips it.
FALLBACK_CALL_SECONDS = 1.5

Replicas = tuple[tuple[Application, grpc.aio.Channel], tuple[Application, grpc.aio.Channel]]


async def all_live(*apps: Application, live: bool = True, within: float = LIVE_SECONDS) -> None:
    async def reported() -> bool:
        return all(app.services.replica.live is live for app in apps)

    await eventually(reported, within=within, what=f"every replica reporting live={live}")


@asynccontextmanager
async def two_replicas(backend: Backend, workdir: Path) -> AsyncIterator[Replicas]:
    """A and B share the database, Redis (and key prefix) and the signing keys; nothing else."""
    keys_dir = workdir / "keys"
    async with AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(
                serving(settings_for_test(backend, workdir / name, keys_dir=keys_dir))
            )
            for name in ("a", "b")
        ]
        assert a[0].port != b[0].port
        yield a, b


@asynccontextmanager
async def replicas_on_private_redis(workdir: Path) -> AsyncIterator[tuple[PrivateRedis, Replicas]]:
    async with (
        private_redis(workdir / "redis") as redis_server,
        postgres_database() as database_url,
    ):
        backend = Backend("postgres", database_url, redis_server.url, "replication:")
        async with two_replicas(backend, workdir) as replicas:
            yield redis_server, replicas


def assert_revoked(error: RichError | None) -> None:
    assert error is not None, "the token is still accepted"
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_REVOKED",
    ), error.message


async def rename(channel: grpc.aio.Channel, access_token: str, display_name: str) -> user_pb2.User:
    return await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id="me", display_name=display_name),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=bearer(access_token),
    )


async def rename_behind_the_services_back(app: Application, user_id: str, name: str) -> None:
    """A database write no replica is told about: only a read of the database can see it."""
    async with app.services.units.transaction() as uow:
        stored = await uow.users.get_for_update(uuid.UUID(user_id))
        assert stored is not None
        await uow.users.save(dataclasses.replace(stored.user, display_name=name))


def local_copy(app: Application, user_id: str) -> User | None:
    """What the replica would answer for the user without asking Redis or the database."""
    return app.services.replica.user(uuid.UUID(user_id))


async def test_a_live_replica_answers_warm_reads_and_heard_revocations_from_its_own_copy(
    app: Application, channel: grpc.aio.Channel
) -> None:
    await all_live(app)
    caller = await signed_in_user(channel, "local")
    other = await login(channel, caller.account.email)
    first = await get_me(channel, caller.tokens.access_token)
    key = user_key(app, caller.id)
    assert await app.redis.exists(key) == 1  # the first read filled Redis as well

    await app.redis.delete(key)
    await rename_behind_the_services_back(app, caller.id, "Only the database knows")
    warm = await get_me(channel, caller.tokens.access_token)

    assert warm == first  # not from the database, which has the new name...
    assert await app.redis.exists(key) == 0  # ...and not a miss, which would refill Redis

    assert (await get_me(channel, other.access_token)).id == caller.id
    await auth(channel).RevokeSession(
        auth_pb2.RevokeSessionRequest(session_id=other.session_id),
        metadata=caller.metadata,
    )
    assert await app.redis.delete(revoked_key(app, other.session_id)) == 1
    # With its marker kept and the session's key gone, Redis would vouch the token is fine.
    assert await app.redis.exists(revocations_loaded_key(app)) == 1

    assert_revoked(await rpc_failure(get_me(channel, other.access_token)))
    assert (await get_me(channel, caller.tokens.access_token)).id == caller.id


async def test_changes_on_one_replica_reach_another_replicas_copy_within_a_second(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    async with two_replicas(postgres_backend, tmp_path) as ((app_a, a), (app_b, b)):
        await all_live(app_a, app_b)
        admin = await signed_in_admin(app_a, a)
        subject: Caller = await signed_in_user(a, "replicated")
        leaving = await login(a, subject.account.email)
        for _ in range(2):
            warm = await get_me(b, subject.tokens.access_token)
        held = local_copy(app_b, subject.id)
        assert held is not None
        assert held.display_name == warm.display_name
        assert (await get_me(b, leaving.access_token)).id == subject.id

        renamed = await rename(a, subject.tokens.access_token, "Renamed on A")
        assert renamed.display_name != warm.display_name

        async def b_shows_the_new_name() -> bool:
            me = await get_me(b, subject.tokens.access_token)
            return me.display_name == renamed.display_name

        await eventually(
            b_shows_the_new_name, within=PROPAGATION_SECONDS, what="the new name read on B"
        )

        await logout(a, leaving.access_token)
        assert_revoked(await first_refusal(b, leaving.access_token, within=PROPAGATION_SECONDS))

        get_subject = user_pb2.GetUserRequest(id=subject.id)
        await users(b).GetUser(get_subject, metadata=admin.metadata)
        assert local_copy(app_b, subject.id) is not None  # B holds the user it is about to lose
        await users(a).DeleteUser(
            user_pb2.DeleteUserRequest(id=subject.id), metadata=admin.metadata
        )

        assert_revoked(
            await first_refusal(b, subject.tokens.access_token, within=PROPAGATION_SECONDS)
        )

        async def b_no_longer_finds_the_user() -> bool:
            try:
                await users(b).GetUser(get_subject, metadata=admin.metadata)
            except grpc.aio.AioRpcError as failed:
                return failed.code() is grpc.StatusCode.NOT_FOUND
            return False

        await eventually(
            b_no_longer_finds_the_user, within=PROPAGATION_SECONDS, what="NOT_FOUND on B"
        )
        gone = await rpc_failure(users(b).GetUser(get_subject, metadata=admin.metadata))
        assert (gone.code, gone.error_info.reason) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")


async def test_after_redis_comes_back_a_replica_knows_what_was_announced_while_it_was_gone(
    tmp_path: Path,
) -> None:
    async with replicas_on_private_redis(tmp_path) as (redis_server, ((app_a, a), (app_b, b))):
        await all_live(app_a, app_b)
        subject: Caller = await signed_in_user(a, "reconnect")
        leaving = await login(a, subject.account.email)
        for _ in range(2):
            before = await get_me(b, subject.tokens.access_token)
        assert (await get_me(b, leaving.access_token)).id == subject.id
        assert local_copy(app_b, subject.id) is not None

        await redis_server.kill()
        await all_live(app_a, app_b, live=False, within=NOT_LIVE_SECONDS)
        # Announced while no replica can hear: only the database records these.
        await logout(a, leaving.access_token)
        renamed = await rename(a, subject.tokens.access_token, "Renamed while Redis was down")
        assert renamed.display_name != before.display_name

        await redis_server.start()  # a new, empty Redis on the same port
        await all_live(app_a, app_b, within=LIVE_AGAIN_SECONDS)

        assert_revoked(await rpc_failure(get_me(b, leaving.access_token)))
        assert (await get_me(b, subject.tokens.access_token)).display_name == renamed.display_name


async def test_a_replica_that_stops_hearing_redis_falls_back_to_the_database_per_call(
    tmp_path: Path,
) -> None:
    async with replicas_on_private_redis(tmp_path) as (redis_server, ((app_a, a), (app_b, b))):
        await all_live(app_a, app_b)
        subject: Caller = await signed_in_user(a, "fallback")
        leaving = await login(a, subject.account.email)
        for _ in range(2):
            before = await get_me(b, subject.tokens.access_token)
        assert (await get_me(b, leaving.access_token)).id == subject.id
        assert local_copy(app_b, subject.id) is not None
        behind = "Read from the database"
        assert before.display_name != behind

        redis_server.pause()  # connections stay open; nothing answers, not even heartbeats
        try:
            await all_live(app_a, app_b, live=False, within=NOT_LIVE_SECONDS)
            await rename_behind_the_services_back(app_a, subject.id, behind)
            for _ in range(3):
                started = time.monotonic()
                me = await get_me(b, subject.tokens.access_token)
                took = time.monotonic() - started
                assert me.display_name == behind  # B's own copy is not trusted while not live
                assert took < FALLBACK_CALL_SECONDS, f"GetUser took {took:.2f}s"

            await logout(a, leaving.access_token)
            started = time.monotonic()
            assert_revoked(await rpc_failure(get_me(b, leaving.access_token)))
            assert time.monotonic() - started < FALLBACK_CALL_SECONDS
        finally:
            redis_server.resume()

        await all_live(app_a, app_b, within=LIVE_AGAIN_SECONDS)
        assert_revoked(await rpc_failure(get_me(b, leaving.access_token)))
        assert (await get_me(b, subject.tokens.access_token)).id == subject.id
