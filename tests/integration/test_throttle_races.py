"""Throttles that hold when calls race (issue #13): every attempt reserves its slot before anything
is verified, an ordinary user's token does not skip the sign-up limit, email changes need the
current password and are throttled per user, and a correct client secret is never throttled.

Each test runs a real server on both backends; racing calls are released together by an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from tests.support.backends import Backend
from tests.support.flows import (
    Caller,
    Metadata,
    auth,
    bearer,
    create_user,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.rich_errors import rich_error
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, service_account_pb2, service_account_pb2_grpc, user_pb2

GUESSES = 5
OK = "OK"


async def released_together(calls: Sequence[Callable[[], Awaitable[object]]]) -> list[str]:
    """Starts every call, lets them all go at once, and gives each outcome: OK or its reason."""
    go = asyncio.Event()

    async def one(call: Callable[[], Awaitable[object]]) -> str:
        await go.wait()
        try:
            await call()
        except grpc.aio.AioRpcError as failed:
            return rich_error(failed).error_info.reason
        return OK

    tasks = [asyncio.create_task(one(call)) for call in calls]
    await asyncio.sleep(0)  # every task is now waiting on the event
    go.set()
    return await asyncio.gather(*tasks)


def settings(backend: Backend, tmp_path: Path, **overrides: Any) -> Any:
    return settings_for_test(backend, tmp_path, **overrides)


async def update_email(
    channel: grpc.aio.Channel, caller: Caller, email: str, current_password: str
) -> user_pb2.User:
    return await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id="me", email=email),
            update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            current_password=current_password,
        ),
        metadata=caller.metadata,
    )


async def service_token(channel: grpc.aio.Channel, admin: Caller, scope: str) -> str:
    made = await service_account_pb2_grpc.ServiceAccountServiceStub(channel).CreateServiceAccount(
        service_account_pb2.CreateServiceAccountRequest(display_name="Robot", scopes=[scope]),
        metadata=admin.metadata,
    )
    pair = await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=made.service_account.client_id, client_secret=made.client_secret
        )
    )
    return pair.access_token


async def test_forty_racing_wrong_current_passwords_get_at_most_the_limit_verified(
    backend: Backend, tmp_path: Path
) -> None:
    limits = {"login_failures_per_account_and_ip": GUESSES, "login_failures_per_account": GUESSES}
    async with serving(settings(backend, tmp_path, **limits)) as (_, channel):
        caller = await signed_in_user(channel)

        def guess(n: int) -> Callable[[], Awaitable[object]]:
            request = user_pb2.ChangePasswordRequest(
                current_password=f"wrong-guess-number-{n}", new_password="amber-orchard-93-x"
            )
            return lambda: users(channel).ChangePassword(request, metadata=caller.metadata)

        outcomes = await released_together([guess(n) for n in range(40)])

        assert outcomes.count("INVALID_CREDENTIALS") <= GUESSES
        assert outcomes.count("RATE_LIMITED") >= 40 - GUESSES
        assert set(outcomes) <= {"INVALID_CREDENTIALS", "RATE_LIMITED"}


async def test_an_ordinary_users_token_is_throttled_like_an_anonymous_sign_up(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(settings(backend, tmp_path, signups_per_ip=2)) as (app, channel):
        caller = await signed_in_user(channel)  # the first sign-up from this address
        await create_user(channel, metadata=caller.metadata)

        refused = await rpc_failure(create_user(channel, metadata=caller.metadata))

        assert (refused.code, refused.error_info.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RATE_LIMITED",
        )
        assert refused.detail(error_details_pb2.RetryInfo) is not None
        # Administrators and users:write services create accounts for others, unthrottled.
        admin = await signed_in_admin(app, channel)
        writer: Metadata = bearer(await service_token(channel, admin, "users:write"))
        for _ in range(3):
            assert (await create_user(channel, metadata=admin.metadata)).id
            assert (await create_user(channel, metadata=writer)).id


async def test_changing_ones_own_email_needs_the_current_password(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(settings(backend, tmp_path)) as (_, channel):
        caller = await signed_in_user(channel)
        wanted = unique_email("moved")

        missing = await rpc_failure(update_email(channel, caller, wanted, ""))
        wrong = await rpc_failure(update_email(channel, caller, wanted, "not-my-password-at-all"))
        moved = await update_email(channel, caller, wanted, caller.account.password)

        for refused in (missing, wrong):
            assert refused.code is grpc.StatusCode.INVALID_ARGUMENT
            bad_request = refused.detail(error_details_pb2.BadRequest)
            assert bad_request is not None
            assert [v.field for v in bad_request.field_violations] == ["current_password"]
        assert wrong.error_info.reason == "INVALID_CREDENTIALS"
        assert moved.email == caller.account.user.email  # pending until VerifyEmail


async def test_thirty_racing_email_probes_are_throttled_after_five(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(settings(backend, tmp_path)) as (_, channel):
        caller = await signed_in_user(channel)
        taken = [(await create_user(channel)).email for _ in range(3)]
        probes = [unique_email("probe") for _ in range(27)] + taken

        def probe(email: str) -> Callable[[], Awaitable[object]]:
            return lambda: update_email(channel, caller, email, caller.account.password)

        outcomes = await released_together([probe(email) for email in probes])

        answered = [o for o in outcomes if o != "RATE_LIMITED"]
        assert len(answered) <= 5
        assert outcomes.count("RATE_LIMITED") >= 25
        assert set(answered) <= {OK, "EMAIL_TAKEN"}


async def test_a_correct_client_secret_gets_its_token_after_twenty_wrong_ones(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(settings(backend, tmp_path)) as (app, channel):
        admin = await signed_in_admin(app, channel)
        made = await service_account_pb2_grpc.ServiceAccountServiceStub(
            channel
        ).CreateServiceAccount(
            service_account_pb2.CreateServiceAccountRequest(
                display_name="Billing", scopes=["users:read"]
            ),
            metadata=admin.metadata,
        )
        client_id = made.service_account.client_id

        def attempt(secret: str) -> Callable[[], Awaitable[object]]:
            request = auth_pb2.IssueServiceTokenRequest(client_id=client_id, client_secret=secret)
            return lambda: auth(channel).IssueServiceToken(request)

        failures = await released_together([attempt(f"wrong-{n}") for n in range(20)])
        pair = await auth(channel).IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(client_id=client_id, client_secret=made.client_secret)
        )

        assert failures.count("INVALID_CREDENTIALS") <= 10  # the default per client id
        assert failures.count("RATE_LIMITED") >= 10
        assert pair.access_token
