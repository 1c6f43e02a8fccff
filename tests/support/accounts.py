"""Accounts a test needs in bulk or with privileges, and the checks that recur around them.

`flows.py` covers what any client does through the API. This module adds what only a test may
do: make an administrator the way an operator does (`bootstrap_admin`), insert many users
straight into the database (one argon2 hash for all of them), and wait, with a deadline, for a
token to be refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import argon2
import grpc
import grpc.aio

from server.app import Application
from server.domain import Role, UserState
from server.repositories.models import UserRow
from server.repositories.users import UserRepository
from tests.support.flows import PASSWORD, Account, bearer, login, unique_email, users
from tests.support.rich_errors import RichError, rich_error
from userservice.v1 import auth_pb2, user_pb2

INSERT_BATCH = 250


@dataclass(frozen=True, slots=True)
class Caller:
    """An account with one live session: what a test calls the API as."""

    account: Account
    tokens: auth_pb2.TokenPair

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.tokens.access_token)


async def signed_in_admin(app: Application, channel: grpc.aio.Channel) -> Caller:
    """An administrator made as `userservice create-admin` makes one, then logged in."""
    email = unique_email("admin")
    made = await app.services.users.bootstrap_admin(
        email=email, password=PASSWORD, display_name="Admin"
    )
    user = user_pb2.User(id=str(made.id), email=made.email, role=user_pb2.User.ROLE_ADMIN)
    return Caller(Account(user, email, PASSWORD), await login(channel, email))


async def signed_in_user(channel: grpc.aio.Channel, label: str = "user") -> Caller:
    """A user who signed up through the API, logged in once."""
    email = unique_email(label)
    user = await users(channel).CreateUser(
        user_pb2.CreateUserRequest(email=email, password=PASSWORD, display_name=label.title())
    )
    account = Account(user, email, PASSWORD)
    return Caller(account, await login(channel, email))


@cache
def password_hash(password: str = PASSWORD) -> str:
    """One argon2id hash at the parameters the tests' servers use, shared by bulk inserts."""
    return argon2.PasswordHasher(
        time_cost=2, memory_cost=19456, parallelism=1, type=argon2.Type.ID
    ).hash(password)


async def insert_users(
    app: Application, emails: Sequence[str], *, batch: int = INSERT_BATCH
) -> list[uuid.UUID]:
    """Rows straight into the users table (no API, no hashing per user); their ids, in order."""
    hashed = password_hash()
    ids: list[uuid.UUID] = []
    for start in range(0, len(emails), batch):
        async with app.services.db.transaction() as session:
            repository = UserRepository(session)
            for email in emails[start : start + batch]:
                row = await repository.add(
                    email=email,
                    password_hash=hashed,
                    display_name="Bulk",
                    role=Role.USER,
                    now=dt.datetime.now(dt.UTC),
                )
                ids.append(row.id)
    return ids


async def insert_users_with_ids(app: Application, users_by_id: Mapping[uuid.UUID, str]) -> None:
    """Rows with ids chosen by the test, in one transaction: a replica whose clock lags mints
    UUIDv7s that sort among older rows, which is what keyset paging must tolerate."""
    now = dt.datetime.now(dt.UTC)
    async with app.services.db.transaction() as session:
        for user_id, email in users_by_id.items():
            session.add(
                UserRow(
                    id=user_id,
                    email=email,
                    password_hash=password_hash(),
                    display_name="Lagging",
                    role=Role.USER,
                    state=UserState.ACTIVE,
                    email_verified=False,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.flush()


def id_between(low: uuid.UUID, high: uuid.UUID, rng: random.Random) -> uuid.UUID:
    """A random UUIDv7 that sorts strictly between `low` and `high` (UUIDv7s some ms apart)."""
    while True:
        value = rng.randint(low.int + 1, high.int - 1)
        value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
        value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
        if low.int < value < high.int:
            return uuid.UUID(int=value)


async def first_refusal(
    channel: grpc.aio.Channel, access_token: str, *, within: float
) -> RichError | None:
    """Calls GetUser("me") until the token is refused or `within` seconds pass (then None)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (now := loop.time()) < deadline:
        try:
            await users(channel).GetUser(
                user_pb2.GetUserRequest(id="me"),
                metadata=bearer(access_token),
                timeout=deadline - now,
            )
        except grpc.aio.AioRpcError as failed:
            if failed.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                return None
            return rich_error(failed)
        await asyncio.sleep(0.01)  # a poll interval, not a wait for the outcome
    return None
