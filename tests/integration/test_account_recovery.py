"""Account recovery end to end (issue 16, items 3-5), on each backend: a notification service
(events:read + notifications:read) watches the stream and reads the codes; nobody else sees one.

A reset code works once (also when resets race) and expires; RequestPasswordReset answers a
known and an unknown email byte for byte alike, with no event for the unknown one; verification
flips email_verified; Login may require it; one's own new email waits for its code."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select

from server.app import Application
from server.config import Settings
from server.repositories.models import OneTimeCodeRow
from tests.support.backends import Backend
from tests.support.events import events, service_metadata, take, watch
from tests.support.flows import (
    PASSWORD,
    auth,
    create_user,
    login,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.recovery import (
    RESET,
    VERIFY,
    last_cursor,
    next_code,
    next_code_free,
    notifier,
    reset_code,
)
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually
from userservice.v1 import auth_pb2, events_pb2, user_pb2

NEW_PASSWORD = "a different, longer passphrase"
CODE_TTL_SECONDS = 2
RACERS = 8


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # A short code life, so that expiry is reached by waiting for the clock, not by faking it.
    return settings_for_test(backend, tmp_path, one_time_code_ttl_seconds=CODE_TTL_SECONDS)


async def test_a_reset_code_sets_the_password_once_and_revokes_every_session(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, ada = await signed_in_admin(app, channel), await signed_in_user(channel, "ada")
    code = await reset_code(app, channel, ada, admin)

    await auth(channel).ResetPassword(
        auth_pb2.ResetPasswordRequest(code=code, new_password=NEW_PASSWORD)
    )
    again = await rpc_failure(
        auth(channel).ResetPassword(
            auth_pb2.ResetPasswordRequest(code=code, new_password="yet another passphrase")
        )
    )
    old_token = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=ada.metadata)
    )

    assert (again.code, again.error_info.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CODE_INVALID",
    )
    assert (old_token.code, old_token.error_info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_REVOKED",
    )
    await login(channel, ada.account.email, NEW_PASSWORD)
    assert (await rpc_failure(login(channel, ada.account.email))).code is (
        grpc.StatusCode.UNAUTHENTICATED
    )


async def test_one_code_wins_one_reset_of_many_released_together(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, ada = await signed_in_admin(app, channel), await signed_in_user(channel, "ada")
    code = await reset_code(app, channel, ada, admin)
    barrier = asyncio.Barrier(RACERS)

    async def reset(n: int) -> grpc.StatusCode:
        await barrier.wait()
        request = auth_pb2.ResetPasswordRequest(code=code, new_password=f"{NEW_PASSWORD} {n}")
        try:
            await auth(channel).ResetPassword(request)
        except grpc.aio.AioRpcError as refused:
            return refused.code()
        return grpc.StatusCode.OK

    answers = await asyncio.gather(*(reset(n) for n in range(RACERS)))
    assert sorted(answers, key=str) == sorted(
        [grpc.StatusCode.OK] + [grpc.StatusCode.INVALID_ARGUMENT] * (RACERS - 1), key=str
    )
    resets = [e for e in await events_of(app, "password.reset") if e == ada.id]
    assert resets == [ada.id]


async def events_of(app: Application, kind: str) -> list[str | None]:
    async with app.services.units.read() as uow:
        found = await uow.events.after(0, types=frozenset({kind}), limit=10_000)
    return [None if e.target is None else e.target.id for e in found]


async def test_a_reset_code_expires(app: Application, channel: grpc.aio.Channel) -> None:
    admin, ada = await signed_in_admin(app, channel), await signed_in_user(channel, "ada")
    watcher, after = await notifier(channel, admin), await last_cursor(app)
    await auth(channel).RequestPasswordReset(
        auth_pb2.RequestPasswordResetRequest(email=ada.account.email)
    )
    event = await next_code(channel, watcher, after, RESET)
    expires_at = dt.datetime.fromisoformat(str(event.data["expires_at"]))

    async def expired() -> bool:
        return dt.datetime.now(dt.UTC) > expires_at

    await eventually(expired, within=CODE_TTL_SECONDS + 5, what="the code's expiry")
    late = await rpc_failure(
        auth(channel).ResetPassword(
            auth_pb2.ResetPasswordRequest(code=event.secret["code"], new_password=NEW_PASSWORD)
        )
    )
    assert late.error_info.reason == "CODE_INVALID"
    await login(channel, ada.account.email)  # the password did not change


async def test_a_known_and_an_unknown_email_get_the_same_answer(
    app: Application, channel: grpc.aio.Channel
) -> None:
    ada = await create_user(channel, email=unique_email("ada"))
    method = channel.unary_unary(
        "/userservice.v1.AuthService/RequestPasswordReset",
        request_serializer=None,
        response_deserializer=None,
    )

    async def answer(email: str) -> tuple[bytes, object, object, grpc.StatusCode]:
        request = auth_pb2.RequestPasswordResetRequest(email=email).SerializeToString()
        call = method(request, metadata=(("x-request-id", "same-request-id-0001"),))
        response = await call
        return (
            response,
            tuple(await call.initial_metadata()),
            tuple(await call.trailing_metadata()),
            await call.code(),
        )

    before = await last_cursor(app)
    unknown = await answer(unique_email("nobody"))
    assert await last_cursor(app) == before  # no event, nothing written
    known = await answer(ada.email)
    assert unknown == known
    assert await events_of(app, RESET) == [ada.id]


async def test_a_user_token_or_events_read_never_sees_a_code(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, ada = await signed_in_admin(app, channel), await signed_in_user(channel, "ada")
    reader = await service_metadata(channel, admin, ["events:read"])
    after = await last_cursor(app)
    await reset_code(app, channel, ada, admin)
    await users(channel).RequestEmailVerification(
        user_pb2.RequestEmailVerificationRequest(user_id="me"), metadata=ada.metadata
    )
    for metadata in (admin.metadata, reader):
        stream = watch(channel, metadata, after, types=[RESET, VERIFY])
        watched = await take(stream, 2)
        stream.cancel()
        listed = await events(channel).ListEvents(
            events_pb2.ListEventsRequest(page_size=1000), metadata=metadata
        )
        assert {RESET, VERIFY} <= {event.type for event in listed.events}
        for event in [*watched, *listed.events]:
            assert not event.secret, event
    refused = await rpc_failure(take(watch(channel, ada.metadata, after), 1))
    assert refused.code is grpc.StatusCode.PERMISSION_DENIED


async def test_verification_flips_email_verified(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, ada = await signed_in_admin(app, channel), await signed_in_user(channel, "ada")
    watcher, after = await notifier(channel, admin), await last_cursor(app)
    await users(channel).RequestEmailVerification(
        user_pb2.RequestEmailVerificationRequest(user_id="me"), metadata=ada.metadata
    )
    event = await next_code(channel, watcher, after, VERIFY)
    assert event.secret["email"] == ada.account.user.email

    async with app.services.db.read() as session:
        stored = list((await session.execute(select(OneTimeCodeRow.code_hash))).scalars())
    assert stored
    assert event.secret["code"].encode() not in stored  # hashes only, at rest

    await users(channel).VerifyEmail(user_pb2.VerifyEmailRequest(code=event.secret["code"]))

    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=ada.metadata)
    assert me.email_verified


async def test_the_pending_email_takes_effect_only_with_its_code(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, ada = await signed_in_admin(app, channel), await signed_in_user(channel, "ada")
    watcher, after = await notifier(channel, admin), await last_cursor(app)
    new_email = unique_email("moved")
    asked = await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id="me", email=new_email),
            update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            current_password=PASSWORD,
        ),
        metadata=ada.metadata,
    )
    assert asked.email == ada.account.user.email
    event = await next_code(channel, watcher, after, VERIFY)
    assert event.secret["email"] == new_email
    told = await next_code_free(channel, watcher, after)
    assert told.secret["email"] == ada.account.user.email

    wrong = await rpc_failure(users(channel).VerifyEmail(user_pb2.VerifyEmailRequest(code="x")))
    assert wrong.error_info.reason == "CODE_INVALID"
    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=ada.metadata)
    assert me.email == ada.account.user.email

    await users(channel).VerifyEmail(user_pb2.VerifyEmailRequest(code=event.secret["code"]))
    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=ada.metadata)
    assert (me.email, me.email_verified) == (new_email, True)


async def test_login_refuses_an_unverified_user_only_after_a_correct_password(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, require_verified_email=True)
    async with serving(settings) as (app, channel):
        admin = await signed_in_admin(app, channel)  # an operator's administrator is verified
        ada = await create_user(channel, email=unique_email("ada"))
        wrong = await rpc_failure(login(channel, ada.email, "not the password at all"))
        right = await rpc_failure(login(channel, ada.email))
        assert wrong.code is grpc.StatusCode.UNAUTHENTICATED
        assert (right.code, right.error_info.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "EMAIL_NOT_VERIFIED",
        )

        watcher, after = await notifier(channel, admin), await last_cursor(app)
        await users(channel).RequestEmailVerification(
            user_pb2.RequestEmailVerificationRequest(user_id=ada.id), metadata=admin.metadata
        )
        event = await next_code(channel, watcher, after, VERIFY)
        await users(channel).VerifyEmail(user_pb2.VerifyEmailRequest(code=event.secret["code"]))
        await login(channel, ada.email)
