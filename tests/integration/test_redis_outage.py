"""Redis down: slower, never wrong (ARCHITECTURE.md, "Replication and faults").

The application runs on PostgreSQL and a redis-server of the test's own, which the test kills
and restarts (a restarted Redis is a new, empty one). While Redis is down, reads come from the
database, revocations are checked against the database and failed logins are still counted in
the process; once Redis is back, the same application uses it again without a restart, and no
revocation is forgotten — neither one made during the outage nor one whose Redis copy the
restart lost.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
import redis.asyncio as redis_asyncio
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.backends import Backend, postgres_database
from tests.support.flows import (
    PASSWORD,
    bearer,
    create_user,
    get_me,
    login,
    logout,
    rpc_failure,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.proxy import Mode, Proxy
from tests.support.redis_keys import revocations_loaded_key, revoked_key, user_key
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually
from userservice.v1 import user_pb2

FAILED_LOGINS_ALLOWED = 3
# Redis is skipped for 1 s after a failure, then retried: recovery shows well within this.
RECOVERY_SECONDS = 10.0


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def served(
    redis_server: PrivateRedis, tmp_path: Path
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    async with postgres_database() as database_url:
        backend = Backend("postgres", database_url, redis_server.url, "outage:")
        # Redis is the only cache here: these tests watch its keys, which a read served from the
        # process's own copy (tested in test_replication.py) would never refill.
        settings = settings_for_test(
            backend, tmp_path, login_failures_per_account=FAILED_LOGINS_ALLOWED, user_cache_size=0
        )
        # conftest's `app` and `channel` fixtures take theirs from this `served`.
        async with serving(settings) as pair:
            yield pair


@pytest.fixture
async def inspector(redis_server: PrivateRedis) -> AsyncIterator[redis_asyncio.Redis]:
    """The test's own client of the private Redis, to see what the application keeps there."""
    client = redis_server.client()
    try:
        yield client
    finally:
        await client.aclose()


async def assert_token_revoked(channel: grpc.aio.Channel, access_token: str) -> None:
    error = await rpc_failure(get_me(channel, access_token))
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_REVOKED",
    )


async def test_user_reads_skip_the_cache_while_redis_is_down_and_fill_it_again_once_back(
    app: Application,
    channel: grpc.aio.Channel,
    redis_server: PrivateRedis,
    inspector: redis_asyncio.Redis,
) -> None:
    caller = await signed_in_user(channel, "cached")
    tokens = caller.tokens
    key = user_key(app, caller.id)

    first = await get_me(channel, tokens.access_token)
    second = await get_me(channel, tokens.access_token)
    cached = await inspector.get(key)
    assert cached is not None, f"{key} missing after two reads"
    entry = json.loads(cached)
    assert (entry["id"], entry["email"]) == (caller.id, caller.account.email)
    assert first == second

    await redis_server.kill()
    during = [await get_me(channel, tokens.access_token) for _ in range(3)]
    assert all(user == first for user in during)

    await redis_server.start()
    inspector = redis_server.client()  # the old client's connection died with the old server
    try:
        assert await inspector.exists(key) == 0  # a new, empty Redis

        async def cache_filled_again() -> bool:
            assert await get_me(channel, tokens.access_token) == first
            return bool(await inspector.exists(key))

        await eventually(
            cache_filled_again,
            within=RECOVERY_SECONDS,
            what=f"{key} written to the restarted Redis",
        )
    finally:
        await inspector.aclose()


async def test_a_logout_during_a_redis_outage_is_refused_during_and_after_it(
    app: Application,
    channel: grpc.aio.Channel,
    redis_server: PrivateRedis,
) -> None:
    caller = await signed_in_user(channel, "logout")
    kept = caller.tokens
    ended = await login(channel, caller.account.email)
    assert (await get_me(channel, ended.access_token)).id == caller.id

    await redis_server.kill()
    await logout(channel, ended.access_token)

    # Redis cannot vouch for anything now: the database says which sessions are live.
    await assert_token_revoked(channel, ended.access_token)
    assert (await get_me(channel, kept.access_token)).id == caller.id

    await redis_server.start()
    await assert_token_revoked(channel, ended.access_token)
    inspector = redis_server.client()
    try:

        async def revocations_resynchronised() -> bool:
            # Each call finds the marker missing until the store has copied the database over.
            await get_me(channel, kept.access_token)
            loaded, revoked = await inspector.mget(
                revocations_loaded_key(app), revoked_key(app, ended.session_id)
            )
            return loaded is not None and revoked is not None

        await eventually(
            revocations_resynchronised,
            within=RECOVERY_SECONDS,
            what="revocations copied to the restarted Redis",
        )
        kept_revoked = await inspector.exists(revoked_key(app, kept.session_id))
    finally:
        await inspector.aclose()

    # Now Redis vouches, and says the same as the database did.
    await assert_token_revoked(channel, ended.access_token)
    assert (await get_me(channel, kept.access_token)).id == caller.id
    assert kept_revoked == 0


async def test_login_and_sign_up_work_and_failed_logins_are_still_throttled_without_redis(
    channel: grpc.aio.Channel, redis_server: PrivateRedis
) -> None:
    account = await create_user(channel, email=unique_email("throttled"))

    await redis_server.kill()

    signed_up = await create_user(channel, email=unique_email("outage-signup"))
    signed_up_tokens = await login(channel, signed_up.email)
    assert (await get_me(channel, signed_up_tokens.access_token)).id == signed_up.id
    assert (await get_me(channel, (await login(channel, account.email)).access_token)).id == (
        account.id
    )

    for _ in range(FAILED_LOGINS_ALLOWED):
        error = await rpc_failure(login(channel, account.email, "not-the-password-1234"))
        assert (error.code, error.error_info.reason) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "INVALID_CREDENTIALS",
        )
    # Past the limit even the right password is refused: the process counted the failures.
    throttled = await rpc_failure(login(channel, account.email, PASSWORD))
    assert (throttled.code, throttled.error_info.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    retry = throttled.detail(error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.seconds >= 1
    # Only that account is throttled.
    assert (await login(channel, signed_up.email)).session_id


async def test_a_revocation_made_before_redis_lost_its_data_is_still_refused_after(
    app: Application,
    channel: grpc.aio.Channel,
    redis_server: PrivateRedis,
    inspector: redis_asyncio.Redis,
) -> None:
    caller = await signed_in_user(channel, "restart")
    kept = caller.tokens
    ended = await login(channel, caller.account.email)
    await logout(channel, ended.access_token)
    await assert_token_revoked(channel, ended.access_token)
    assert await inspector.exists(revoked_key(app, ended.session_id)) == 1

    await redis_server.restart()  # a new, empty Redis: the revocation's Redis copy is gone

    # The very first calls after the restart already refuse it (the database decides).
    await assert_token_revoked(channel, ended.access_token)
    assert (await get_me(channel, kept.access_token)).id == caller.id

    inspector = redis_server.client()
    try:

        async def revocations_resynchronised() -> bool:
            await get_me(channel, kept.access_token)
            return (
                await inspector.exists(
                    revocations_loaded_key(app), revoked_key(app, ended.session_id)
                )
                == 2
            )

        await eventually(
            revocations_resynchronised,
            within=RECOVERY_SECONDS,
            what="revocations copied to the restarted Redis",
        )
    finally:
        await inspector.aclose()
    await assert_token_revoked(channel, ended.access_token)
    assert (await get_me(channel, kept.access_token)).id == caller.id


async def test_a_logout_on_a_replica_cut_off_from_redis_reaches_the_others_once_it_reconnects(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    """Replica A loses Redis (B does not) while a session is logged out on A.

    B cannot learn of it while A is cut off: Redis is the only way replicas talk. Once A reaches
    Redis again, B must refuse the token soon — without any further call to A.
    """
    async with (
        postgres_database() as database_url,
        Proxy("127.0.0.1", redis_server.port) as a_to_redis,
    ):
        prefix = f"replicas-{uuid.uuid4().hex[:8]}:"
        a_redis = Backend(
            "postgres", database_url, f"redis://127.0.0.1:{a_to_redis.port}/0", prefix
        )
        b_redis = Backend("postgres", database_url, redis_server.url, prefix)
        # One working directory: both replicas sign and verify with the same key.
        async with (
            serving(settings_for_test(a_redis, tmp_path)) as (_, a),
            serving(settings_for_test(b_redis, tmp_path)) as (_, b),
        ):
            caller = await signed_in_user(a, "replicas")
            tokens = caller.tokens
            assert (await get_me(b, tokens.access_token)).id == caller.id

            await a_to_redis.set_mode(Mode.REFUSE)
            await logout(a, tokens.access_token)
            await assert_token_revoked(a, tokens.access_token)
            await a_to_redis.set_mode(Mode.FORWARD)

            async def refused_by_b() -> bool:
                try:
                    await get_me(b, tokens.access_token)
                except grpc.aio.AioRpcError as failed:
                    return failed.code() is grpc.StatusCode.UNAUTHENTICATED
                return False

            await eventually(
                refused_by_b,
                within=RECOVERY_SECONDS,
                what="replica B refusing the token logged out on A",
            )
            await assert_token_revoked(b, tokens.access_token)


async def test_a_user_changed_while_redis_hung_is_not_read_stale_from_it_afterwards(
    app: Application,
    channel: grpc.aio.Channel,
    redis_server: PrivateRedis,
    inspector: redis_asyncio.Redis,
) -> None:
    """A hung Redis keeps its data: the entry the change could not delete must still go.

    Other replicas read the same Redis, so the old entry has to be deleted once Redis answers
    again, not merely skipped by the replica that made the change.
    """
    caller = await signed_in_user(channel, "renamed")
    tokens = caller.tokens
    await get_me(channel, tokens.access_token)
    key = user_key(app, caller.id)
    assert await inspector.exists(key) == 1

    redis_server.pause()
    try:
        renamed = await users(channel).UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(id="me", display_name="Renamed while Redis hung"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=bearer(tokens.access_token),
        )
        assert (await get_me(channel, tokens.access_token)).display_name == renamed.display_name
    finally:
        redis_server.resume()

    async def old_entry_gone() -> bool:
        cached = await inspector.get(key)
        return cached is None or json.loads(cached)["display_name"] == renamed.display_name

    await eventually(
        old_entry_gone,
        within=RECOVERY_SECONDS,
        what=f"the stale {key} deleted, with no call reading it",
    )
    for _ in range(2):  # a cache miss, then (once filled again) a hit
        me = await get_me(channel, tokens.access_token)
        assert (me.display_name, me.etag) == (renamed.display_name, renamed.etag)
