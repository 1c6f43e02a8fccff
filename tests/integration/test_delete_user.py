"""DeleteUser: etags, who may delete whom, and the sessions and cache entries a delete ends.

A real server on each backend; every effect is observed as a client observes it (another call),
except the user cache, which is read from the application's own Redis.
"""

from __future__ import annotations

import grpc
import grpc.aio

from server.app import Application
from tests.support.flows import get_me, login, rpc_failure, signed_in_admin, signed_in_user
from tests.support.user_changes import assert_refused, delete_user, get_user, update
from userservice.v1 import user_pb2

PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
ABORTED = grpc.StatusCode.ABORTED
User = user_pb2.User


async def test_deleting_yourself_removes_the_user_its_sessions_and_its_cache_entry(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel)
    cache_key = f"{app.settings.redis_key_prefix}user:{caller.id}"
    await get_me(channel, caller.tokens.access_token)  # warms the cache
    assert await app.redis.exists(cache_key) == 1

    await delete_user(channel, caller, "me")

    revoked = await rpc_failure(get_me(channel, caller.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")
    gone = await rpc_failure(login(channel, caller.account.email))
    assert_refused(gone, UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert await app.redis.exists(cache_key) == 0


async def test_a_delete_with_a_stale_etag_is_aborted_and_deletes_nothing(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    stale = await get_me(channel, caller.tokens.access_token)
    await update(channel, caller, User(id="me", display_name="Changed"), "display_name")

    error = await rpc_failure(delete_user(channel, caller, "me", etag=stale.etag))

    assert_refused(error, ABORTED, "ETAG_MISMATCH")
    assert (await get_me(channel, caller.tokens.access_token)).display_name == "Changed"
    assert (await login(channel, caller.account.email)).access_token


async def test_an_administrator_can_delete_another_user(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_user(channel, "target")
    current = await get_user(channel, admin, target.id)

    await delete_user(channel, admin, target.id, etag=current.etag)

    missing = await rpc_failure(get_user(channel, admin, target.id))
    assert_refused(missing, grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    revoked = await rpc_failure(get_me(channel, target.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")


async def test_a_deleted_users_token_stays_refused_after_redis_forgets_every_revocation(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_admin(app, channel)
    await delete_user(channel, admin, target.id)
    # Redis restarts empty (or is flushed): the revocations must come back from the database.
    prefix = app.settings.redis_key_prefix
    forgotten = [key async for key in app.redis.scan_iter(match=f"{prefix}revoked:*")]
    assert forgotten
    await app.redis.delete(*forgotten)

    await app.services.revocations.resync()

    revoked = await rpc_failure(get_me(channel, target.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")


async def test_a_user_cannot_delete_another_user(channel: grpc.aio.Channel) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")

    error = await rpc_failure(delete_user(channel, alice, bob.id))

    assert error.code is PERMISSION_DENIED
    assert (await get_me(channel, bob.tokens.access_token)).id == bob.id
