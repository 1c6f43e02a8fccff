"""Service-account revocation: a disabled or deleted account's token is refused on the next
call, on every replica (issue #8).

Each test that touches state runs on both backends.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import grpc.aio

from server.app import Application
from tests.support.backends import Backend
from tests.support.flows import (
    bearer,
    first_refusal,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    users,
)
from tests.support.servers import serving, settings_for_test
from tests.support.service_accounts import (
    SA,
    accounts,
    assert_reason,
    issue,
    service_token,
    set_state,
)
from userservice.v1 import user_pb2

REVOCATION_DEADLINE_SECONDS = 1.0


async def test_disabling_an_account_refuses_its_current_token_on_the_next_call(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    made, token = await service_token(channel, admin, ["users:read"])
    read = user_pb2.GetUserRequest(id=someone.id)
    assert (await users(channel).GetUser(read, metadata=bearer(token))).id == someone.id

    await set_state(channel, admin, made.service_account.id, SA.ServiceAccount.STATE_DISABLED)

    refused = await rpc_failure(users(channel).GetUser(read, metadata=bearer(token)))
    assert_reason(refused, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    disabled = await rpc_failure(issue(channel, made.service_account.client_id, made.client_secret))
    assert_reason(disabled, grpc.StatusCode.UNAUTHENTICATED, "SERVICE_ACCOUNT_DISABLED")

    # Enabled again: the old token stays dead, new ones work at once.
    await set_state(channel, admin, made.service_account.id, SA.ServiceAccount.STATE_ACTIVE)
    again = await rpc_failure(users(channel).GetUser(read, metadata=bearer(token)))
    assert again.error_info.reason == "TOKEN_REVOKED"
    fresh = await issue(channel, made.service_account.client_id, made.client_secret)
    assert (await users(channel).GetUser(read, metadata=bearer(fresh.access_token))).id


async def test_deleting_an_account_refuses_its_tokens_and_credentials(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    made, token = await service_token(channel, admin, ["users:read"])
    await accounts(channel).DeleteServiceAccount(
        SA.DeleteServiceAccountRequest(id=made.service_account.id), metadata=admin.metadata
    )
    refused = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id=someone.id), metadata=bearer(token))
    )
    assert_reason(refused, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    gone = await rpc_failure(issue(channel, made.service_account.client_id, made.client_secret))
    assert_reason(gone, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")


async def test_an_account_disabled_on_one_replica_is_refused_by_another(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    # Two replicas share PostgreSQL, Redis and the signing keys, and nothing else.
    keys_dir = tmp_path / "keys"
    async with AsyncExitStack() as stack:
        (app_a, channel_a), (_, channel_b) = [
            await stack.enter_async_context(
                serving(settings_for_test(postgres_backend, tmp_path / name, keys_dir=keys_dir))
            )
            for name in ("a", "b")
        ]
        admin = await signed_in_admin(app_a, channel_a)
        made, token = await service_token(channel_a, admin, ["users:read"])
        # first_refusal calls GetUser("me"): a service token is refused or allowed there by
        # policy, so read a user by id to prove the token works on replica b first.
        someone = await signed_in_user(channel_a, "someone")
        read = user_pb2.GetUserRequest(id=someone.id)
        assert (await users(channel_b).GetUser(read, metadata=bearer(token))).id == someone.id

        await set_state(channel_a, admin, made.service_account.id, SA.ServiceAccount.STATE_DISABLED)

        refused = await rpc_failure(users(channel_b).GetUser(read, metadata=bearer(token)))
        assert_reason(refused, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
        error = await first_refusal(channel_b, token, within=REVOCATION_DEADLINE_SECONDS)
        assert error is not None
        assert error.error_info.reason == "TOKEN_REVOKED"
