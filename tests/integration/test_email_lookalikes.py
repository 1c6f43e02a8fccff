"""One account per address, whatever its spelling: look-alike addresses (compatibility forms,
Unicode case folding) share a key the database keeps unique, on each backend."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import field_mask_pb2

from server.app import Application
from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    bearer,
    create_user,
    login,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    users,
)
from tests.support.rich_errors import RichError, rich_error
from tests.support.servers import settings_for_test
from userservice.v1 import user_pb2

SIMULTANEOUS_SIGNUPS = 20
# U+FF4B FULLWIDTH LATIN SMALL LETTER K: NFKC makes it k, str.lower() leaves it as it is.
FULLWIDTH_K = "\uff4b"


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # Every call here comes from one address: lift the per-IP sign-up limit above the crowd.
    return settings_for_test(backend, tmp_path, signups_per_ip=2 * SIMULTANEOUS_SIGNUPS)


def fullwidth(text: str) -> str:
    """`text` with every ASCII letter in its fullwidth compatibility form (U+FF21…)."""
    return "".join(chr(ord(c) - 0x21 + 0xFF01) if c.isascii() and c.isalpha() else c for c in text)


def lookalikes(local_part: str, domain: str, count: int) -> list[str]:
    """`count` spellings of one address that stay distinct after `str.lower()`: each letter of
    the local part either ASCII or fullwidth, in alternating case."""
    spellings = []
    for choice in itertools.product((False, True), repeat=len(local_part)):
        letters = (fullwidth(c) if wide else c for c, wide in zip(local_part, choice, strict=True))
        spelled = "".join(c.upper() if i % 2 else c for i, c in enumerate(letters))
        spellings.append(f"{spelled}@{domain}")
    assert len(spellings) >= count
    return spellings[:count]


def assert_email_taken(error: RichError) -> None:
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "EMAIL_TAKEN",
    ), error.message


async def assert_taken(call: Awaitable[object]) -> None:
    assert_email_taken(await rpc_failure(call))


async def test_a_fullwidth_spelling_of_a_taken_address_is_taken(channel: grpc.aio.Channel) -> None:
    await create_user(channel, email="known@example.com")

    await assert_taken(create_user(channel, email=f"{FULLWIDTH_K}nown@example.com"))


async def test_a_lookalike_spelling_logs_in_as_the_account_and_the_password_still_decides(
    channel: grpc.aio.Channel,
) -> None:
    known = await create_user(channel, email="known@example.com")

    pair = await login(channel, f"{FULLWIDTH_K}nown@example.com")
    wrong = await rpc_failure(login(channel, f"{FULLWIDTH_K}nown@example.com", "not-the-password"))

    assert pair.access_token
    me = await users(channel).GetUser(
        user_pb2.GetUserRequest(id="me"), metadata=bearer(pair.access_token)
    )
    assert me.id == known.id
    assert wrong.code is grpc.StatusCode.UNAUTHENTICATED


async def test_upper_case_strasse_and_sharp_s_are_one_address(channel: grpc.aio.Channel) -> None:
    # str.lower() keeps ß; Unicode case folding makes it ss.
    await create_user(channel, email="stra\u00dfe@example.com")

    await assert_taken(create_user(channel, email="STRASSE@example.com"))
    await assert_taken(create_user(channel, email="strasse@example.com"))


async def test_greek_final_and_medial_sigma_are_one_address(channel: grpc.aio.Channel) -> None:
    # str.lower() turns a word-final capital sigma into the final form (U+03C2) and leaves a
    # lower-case medial sigma (U+03C3) as it is; case folding makes both the medial one.
    await create_user(channel, email="\u039f\u0394\u039f\u03a3@example.com")  # upper-case ODOS

    await assert_taken(create_user(channel, email="\u03bf\u03b4\u03bf\u03c3@example.com"))
    await assert_taken(create_user(channel, email="\u03bf\u03b4\u03bf\u03c2@example.com"))


async def test_an_email_change_to_a_lookalike_of_another_users_address_is_taken(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    await create_user(channel, email="known@example.com")
    target = await signed_in_user(channel, "target")

    error = await rpc_failure(
        users(channel).UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(id=target.id, email=f"{FULLWIDTH_K}NOWN@example.com"),
                update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            ),
            metadata=admin.metadata,
        )
    )

    assert_email_taken(error)
    unchanged = await users(channel).GetUser(
        user_pb2.GetUserRequest(id=target.id), metadata=admin.metadata
    )
    assert unchanged.email == target.account.email


async def test_twenty_lookalike_spellings_signing_up_at_once_create_exactly_one_user(
    channel: grpc.aio.Channel,
) -> None:
    spellings = lookalikes("known", "example.com", SIMULTANEOUS_SIGNUPS)
    requests = [user_pb2.CreateUserRequest(email=s, password=PASSWORD) for s in spellings]
    release = asyncio.Event()

    async def sign_up(request: user_pb2.CreateUserRequest) -> user_pb2.User:
        await release.wait()
        return await users(channel).CreateUser(request)

    calls = [asyncio.create_task(sign_up(r)) for r in requests]
    await asyncio.sleep(0)  # every task is now waiting at the barrier
    release.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    created = [o for o in outcomes if isinstance(o, user_pb2.User)]
    failures = [rich_error(o) for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(created) + len(failures) == SIMULTANEOUS_SIGNUPS, outcomes
    assert len(created) == 1
    assert Counter((f.code, f.error_info.reason) for f in failures) == {
        (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN"): SIMULTANEOUS_SIGNUPS - 1
    }
