"""Sessions without Redis: sign-up and login work and failed logins are still throttled, and no
revocation is forgotten — not a logout made during an outage, not one whose Redis copy a restart
lost, not one made on a replica cut off from Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import grpc.aio
import redis.asyncio as redis_asyncio
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.backends import Backend, postgres_database
from tests.support.flows import (
    PASSWORD,
    create_user,
    get_me,
    login,
    logout,
    rpc_failure,
    signed_in_user,
    unique_email,
)
from tests.support.private_redis import PrivateRedis
from tests.support.proxy import Mode, Proxy
from tests.support.redis_keys import revocations_loaded_key, revoked_key
from tests.support.redis_outage import FAILED_LOGINS_ALLOWED, RECOVERY_SECONDS
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually


async def assert_token_revoked(channel: grpc.aio.Channel, access_token: str) -> None:
    error = await rpc_failure(get_me(channel, access_token))
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_REVOKED",
    )


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
