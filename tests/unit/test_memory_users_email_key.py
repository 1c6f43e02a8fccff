"""The in-memory users repository treats look-alike addresses as the SQL one does: one key, one
account; lookups by a look-alike find it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server.domain import Role
from server.errors import AlreadyExists
from tests.support.memory_repositories import MemoryState, MemoryUsers

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FULLWIDTH_K = "\uff4b"


async def test_a_lookalike_is_taken_and_finds_the_account() -> None:
    users = MemoryUsers(MemoryState())
    known = await users.add(
        email="known@x.io", password_hash="h", display_name="", role=Role.USER, now=NOW
    )

    with pytest.raises(AlreadyExists):
        await users.add(
            email=f"{FULLWIDTH_K}nown@x.io",
            password_hash="h",
            display_name="",
            role=Role.USER,
            now=NOW,
        )
    found = await users.get_by_email(f"{FULLWIDTH_K}nown@x.io")

    assert found is not None
    assert found.user.id == known.id


async def test_saving_a_lookalike_of_another_users_address_is_taken() -> None:
    users = MemoryUsers(MemoryState())
    await users.add(
        email="stra\u00dfe@x.io", password_hash="h", display_name="", role=Role.USER, now=NOW
    )
    other = await users.add(
        email="other@x.io", password_hash="h", display_name="", role=Role.USER, now=NOW
    )

    with pytest.raises(AlreadyExists):
        await users.save(dataclasses.replace(other, email="strasse@x.io", version=2))
    await users.save(dataclasses.replace(other, display_name="Renamed", version=2))
