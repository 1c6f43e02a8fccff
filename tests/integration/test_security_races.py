"""The security invariants when calls race (ARCHITECTURE.md, "Invariants").

Each test releases many calls together (they all wait on one event, then start in the same loop
iteration) against a real server, on SQLite + the in-process store and on PostgreSQL + Redis, and
then checks what a client sees: how many attempts were evaluated, whether any token outlived an
acknowledged change, whether a refresh token forked its session.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import grpc
import grpc.aio
import pytest
from google.protobuf import field_mask_pb2

from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    Caller,
    auth,
    bearer,
    create_user,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.rich_errors import RichError, rich_error
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2

LIMIT = 10
OK = "OK"
T = TypeVar("T")


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return settings_for_test(
        backend,
        tmp_path,
        login_failures_per_account_and_ip=LIMIT,
        login_failures_per_ip=10_000,
        trusted_proxies=["127.0.0.1"],
    )


async def released_together(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T | RichError]:
    """Starts every call at once (they wait on one event) and gathers what each answered."""
    start = asyncio.Event()

    async def one(call: Callable[[], Awaitable[T]]) -> T | RichError:
        await start.wait()
        try:
            return await call()
        except grpc.aio.AioRpcError as failed:
            return rich_error(failed)

    tasks = [asyncio.create_task(one(call)) for call in calls]
    await asyncio.sleep(0)  # every task is now waiting on the event
    start.set()
    return list(await asyncio.gather(*tasks))


def outcome(answer: object) -> str:
    return answer.error_info.reason if isinstance(answer, RichError) else OK


async def outcome_of(call: Callable[[], Awaitable[object]]) -> str:
    [answer] = await released_together([call])
    return outcome(answer)


def login_call(
    channel: grpc.aio.Channel, email: str, password: str, *, address: str = ""
) -> Callable[[], Awaitable[auth_pb2.TokenPair]]:
    metadata = (("x-forwarded-for", address),) if address else ()
    return lambda: auth(channel).Login(
        auth_pb2.LoginRequest(email=email, password=password), metadata=metadata
    )


async def accepted(channel: grpc.aio.Channel, access_token: str) -> bool:
    me = user_pb2.GetUserRequest(id="me")
    answer = await outcome_of(lambda: users(channel).GetUser(me, metadata=bearer(access_token)))
    assert answer in {OK, "TOKEN_REVOKED"}
    return answer == OK


# -- throttles reserve before they verify


async def test_sixty_four_wrong_passwords_at_once_evaluate_at_most_the_limit(
    channel: grpc.aio.Channel,
) -> None:
    email = unique_email("guessed")
    await create_user(channel, email=email)

    answers = await released_together(
        [login_call(channel, email, f"guess-{i}-x" * 2) for i in range(64)]
    )

    counts = Counter(outcome(a) for a in answers)
    assert counts == {"INVALID_CREDENTIALS": LIMIT, "RATE_LIMITED": 64 - LIMIT}


async def test_the_right_password_among_a_hundred_guesses_is_evaluated_only_within_the_limit(
    channel: grpc.aio.Channel,
) -> None:
    email = unique_email("guessed")
    await create_user(channel, email=email)
    # One connection carries at most 100 concurrent streams (USERSERVICE_MAX_CONCURRENT_STREAMS).
    guesses = [f"guess-{i}-x" * 2 for i in range(100)]
    guesses[75] = PASSWORD

    answers = await released_together([login_call(channel, email, g) for g in guesses])

    counts = Counter(outcome(a) for a in answers)
    evaluated = counts["INVALID_CREDENTIALS"] + counts[OK]
    assert evaluated == LIMIT, counts
    assert counts["RATE_LIMITED"] == 100 - LIMIT


# -- a third party cannot lock the owner out cheaply


async def test_failures_from_one_address_do_not_lock_the_owner_out_elsewhere(
    app: object, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)  # type: ignore[arg-type]
    email = admin.account.email
    attacker, owner = "203.0.113.5", "198.51.100.7"

    # More refused guesses than the account's own budget (100): an attempt the address's tight
    # limit refuses must spend nothing of the account's. In batches: one connection carries at
    # most 100 concurrent streams.
    guesses = []
    for batch in range(3):
        guesses += await released_together(
            [
                login_call(channel, email, f"guess-{batch}-{i}-x" * 2, address=attacker)
                for i in range(50)
            ]
        )
    assert Counter(outcome(a) for a in guesses)["INVALID_CREDENTIALS"] == LIMIT

    assert await outcome_of(login_call(channel, email, PASSWORD, address=owner)) == OK
    limited = await outcome_of(login_call(channel, email, PASSWORD, address=attacker))
    assert limited == "RATE_LIMITED"


async def test_an_ipv6_attacker_is_counted_by_its_slash_64(channel: grpc.aio.Channel) -> None:
    email = unique_email("v6")
    await create_user(channel, email=email)
    addresses = [f"2001:db8:1:2::{i:x}" for i in range(1, 3 * LIMIT + 1)]

    answers = await released_together(
        [login_call(channel, email, "wrong-password-x1", address=a) for a in addresses]
    )

    assert Counter(outcome(a) for a in answers)["INVALID_CREDENTIALS"] == LIMIT
    assert await outcome_of(login_call(channel, email, PASSWORD, address="2001:db8:9::1")) == OK


# -- no token outlives an acknowledged disable or demotion


async def test_logins_racing_a_disable_leave_no_token_working(
    app: object, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)  # type: ignore[arg-type]
    victim = await signed_in_user(channel, "disabled")
    disable = lambda: users(channel).UpdateUser(  # noqa: E731
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id=victim.id, state=user_pb2.User.STATE_DISABLED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=admin.metadata,
    )
    logins = [login_call(channel, victim.account.email, PASSWORD) for _ in range(24)]

    answers = await released_together([*logins[:12], disable, *logins[12:]])

    assert isinstance(answers[12], user_pb2.User), answers[12]  # the disable was acknowledged
    tokens = [a.access_token for a in answers if isinstance(a, auth_pb2.TokenPair)]
    still_working = [t for t in [victim.tokens.access_token, *tokens] if await accepted(channel, t)]
    assert still_working == []


async def test_logins_racing_a_demotion_leave_no_admin_token(
    app: object, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)  # type: ignore[arg-type]
    rogue_email = unique_email("rogue")
    rogue = await create_user(
        channel, email=rogue_email, role=user_pb2.User.ROLE_ADMIN, metadata=admin.metadata
    )
    demote = lambda: users(channel).UpdateUser(  # noqa: E731
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id=rogue.id, role=user_pb2.User.ROLE_USER),
            update_mask=field_mask_pb2.FieldMask(paths=["role"]),
        ),
        metadata=admin.metadata,
    )
    logins = [login_call(channel, rogue_email, PASSWORD) for _ in range(16)]

    answers = await released_together([*logins[:8], demote, *logins[8:]])

    assert isinstance(answers[8], user_pb2.User), answers[8]
    tokens = [a.access_token for a in answers if isinstance(a, auth_pb2.TokenPair)]
    backdoors = await released_together(
        [
            lambda t=token: create_user(  # type: ignore[misc]
                channel, role=user_pb2.User.ROLE_ADMIN, metadata=bearer(t)
            )
            for token in tokens
        ]
    )
    assert {outcome(b) for b in backdoors} <= {"TOKEN_REVOKED", "PERMISSION_DENIED"}


# -- one refresh token rotates at most once


def refresh_call(
    channel: grpc.aio.Channel, token: str
) -> Callable[[], Awaitable[auth_pb2.TokenPair]]:
    return lambda: auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))


async def live_chains(channel: grpc.aio.Channel, answers: Sequence[object]) -> int:
    """How many of the refresh tokens handed out still rotate (each is a live chain)."""
    handed_out = {a.refresh_token for a in answers if isinstance(a, auth_pb2.TokenPair)}
    live = 0
    for token in handed_out:
        try:
            await refresh_call(channel, token)()
            live += 1
        except grpc.aio.AioRpcError:
            pass
    return live


async def test_one_refresh_token_presented_three_times_at_once_never_forks(
    channel: grpc.aio.Channel,
) -> None:
    for _ in range(5):
        caller: Caller = await signed_in_user(channel, "refresher")
        answers = await released_together([refresh_call(channel, caller.tokens.refresh_token)] * 3)

        counts = Counter(outcome(a) for a in answers)
        assert counts[OK] <= 1, counts
        # A later presentation finds the session already revoked by the reuse: TOKEN_REVOKED.
        assert set(counts) <= {OK, "REFRESH_TOKEN_REUSED", "TOKEN_REVOKED"}, counts
        assert await live_chains(channel, answers) <= 1


@pytest.fixture
def grace_settings(backend: Backend, tmp_path: Path) -> Settings:
    return settings_for_test(backend, tmp_path, refresh_reuse_grace_seconds=5)


async def test_within_the_grace_period_twenty_presentations_get_the_same_successor(
    grace_settings: Settings,
) -> None:
    async with serving(grace_settings) as (_, channel):
        caller = await signed_in_user(channel, "retrier")

        answers = await released_together([refresh_call(channel, caller.tokens.refresh_token)] * 20)

        assert [outcome(a) for a in answers] == [OK] * 20
        successors = {a.refresh_token for a in answers if isinstance(a, auth_pb2.TokenPair)}
        assert len(successors) == 1
        assert await live_chains(channel, answers) == 1


# -- ValidateToken says nothing about other users' tokens


async def test_validating_another_users_token_is_refused_whether_it_is_live_or_not(
    channel: grpc.aio.Channel,
) -> None:
    me, other = await signed_in_user(channel, "me"), await signed_in_user(channel, "other")
    ended = await signed_in_user(channel, "ended")
    await auth(channel).Logout(auth_pb2.LogoutRequest(), metadata=ended.metadata)

    async def validate(token: str) -> object:
        try:
            return await auth(channel).ValidateToken(
                auth_pb2.ValidateTokenRequest(access_token=token), metadata=me.metadata
            )
        except grpc.aio.AioRpcError as failed:
            return (failed.code(), failed.details())

    live, revoked = (
        await validate(other.tokens.access_token),
        await validate(ended.tokens.access_token),
    )
    assert live == revoked
    assert live[0] == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[index]
    own = await validate(me.tokens.access_token)
    assert isinstance(own, auth_pb2.ValidateTokenResponse)
    assert own.active
