"""Accounts a test needs in bulk: rows inserted straight into the database.

`flows.py` holds every helper that signs up, logs in or calls as a user. This module adds only
what goes around the API: many users at once (one argon2 hash for all of them), and users with
ids the test chooses.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping, Sequence
from functools import cache

import argon2

from server.app import Application
from server.domain import Role, UserState, email_key
from server.repositories.models import UserRow
from server.repositories.users import UserRepository
from tests.support.flows import PASSWORD

INSERT_BATCH = 250


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
                    email_key=email_key(email),
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
