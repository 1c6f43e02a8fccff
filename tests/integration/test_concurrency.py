"""Concurrent callers and several replicas: uniqueness, idempotency, and revocation everywhere."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import grpc.aio
import pytest

from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    auth,
    first_refusal,
    get_me,
    login,
    rpc_failure,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.rich_errors import rich_error
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2

REVOCATION_DEADLINE_SECONDS = 1.0
SIMULTANEOUS_SIGNUPS = 50


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # Every call here comes from one address: lift the per-IP sign-up limit above the crowd.
    return settings_for_test(backend, tmp_path, signups_per_ip=2 * SIMULTANEOUS_SIGNUPS)


def letter_case_variants(email: str, count: int) -> list[str]:
    """`count` distinct spellings of one address that differ only in letter case."""
    rng = random.Random(email)
    variants = {email}
    while len(variants) < count:
        variants.add("".join(c.upper() if rng.random() < 0.5 else c for c in email))
    return sorted(variants)


async def test_one_email_in_fifty_letter_cases_at_once_creates_exactly_one_user(
    channel: grpc.aio.Channel,
) -> None:
    email = unique_email("race")
    spellings = letter_case_variants(email, SIMULTANEOUS_SIGNUPS)

    outcomes = await asyncio.gather(
        *(
            users(channel).CreateUser(user_pb2.CreateUserRequest(email=spelling, password=PASSWORD))
            for spelling in spellings
        ),
        return_exceptions=True,
    )

    created = [o for o in outcomes if isinstance(o, user_pb2.User)]
    failures = [rich_error(o) for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(created) + len(failures) == SIMULTANEOUS_SIGNUPS, [
        o for o in outcomes if isinstance(o, Exception)
    ]
    assert len(created) == 1
    assert created[0].email == email
    assert Counter((f.code, f.error_info.reason) for f in failures) == {
        (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN"): SIMULTANEOUS_SIGNUPS - 1
    }


async def test_one_request_id_sent_ten_times_at_once_creates_one_user(
    channel: grpc.aio.Channel,
) -> None:
    request = user_pb2.CreateUserRequest(
        email=unique_email("retry"),
        password=PASSWORD,
        display_name="Retried",
        request_id=str(uuid.uuid4()),
    )

    answers = await asyncio.gather(*(users(channel).CreateUser(request) for _ in range(10)))

    assert {user.id for user in answers} == {answers[0].id}
    assert {user.email for user in answers} == {request.email}
    pair = await login(channel, request.email)
    assert (await get_me(channel, pair.access_token)).id == answers[0].id


async def test_a_request_id_reused_for_a_different_request_is_refused(
    channel: grpc.aio.Channel,
) -> None:
    request = user_pb2.CreateUserRequest(
        email=unique_email("reused"),
        password=PASSWORD,
        display_name="First",
        request_id=str(uuid.uuid4()),
    )
    await users(channel).CreateUser(request)
    changed = user_pb2.CreateUserRequest()
    changed.CopyFrom(request)
    changed.display_name = "Second"

    error = await rpc_failure(users(channel).CreateUser(changed))

    assert error.code is grpc.StatusCode.ALREADY_EXISTS
    assert error.error_info.reason == "REQUEST_ID_REUSED"


async def test_a_logout_on_one_replica_is_honoured_by_another_within_a_second(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    # Two replicas share PostgreSQL, Redis and the signing keys, and nothing else.
    keys_dir = tmp_path / "keys"
    async with AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                serving(settings_for_test(postgres_backend, tmp_path / name, keys_dir=keys_dir))
            )
            for name in ("a", "b")
        ]
        (app_a, channel_a), (app_b, channel_b) = replicas
        assert app_a.port != app_b.port
        caller = await signed_in_user(channel_a)
        assert (await get_me(channel_b, caller.tokens.access_token)).id == caller.id

        await auth(channel_a).Logout(auth_pb2.LogoutRequest(), metadata=caller.metadata)

        error = await first_refusal(
            channel_b, caller.tokens.access_token, within=REVOCATION_DEADLINE_SECONDS
        )
        assert error is not None, (
            f"replica b still accepts the token after {REVOCATION_DEADLINE_SECONDS}s"
        )
        assert error.code is grpc.StatusCode.UNAUTHENTICATED
        assert error.error_info.reason == "TOKEN_REVOKED"
