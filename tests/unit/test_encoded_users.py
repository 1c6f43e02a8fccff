"""The cached encoding of a user is served only for the very value it encodes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from server.domain import Role, User, UserState
from server.servicers.encoded_users import EncodedUsers
from userservice.v1 import user_pb2

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def a_user(**changes: object) -> User:
    user = User(
        id=uuid.UUID(int=1),
        email="ada@example.com",
        display_name="Ada",
        role=Role.USER,
        state=UserState.ACTIVE,
        email_verified=False,
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )
    return dataclasses.replace(user, **changes)  # type: ignore[arg-type]


def decoded(encoded: bytes) -> user_pb2.User:
    return user_pb2.User.FromString(encoded)


def test_an_equal_user_gets_the_same_encoding() -> None:
    encoded = EncodedUsers(10)
    first = encoded.encode(a_user())

    assert encoded.encode(a_user()) is first
    assert decoded(first).display_name == "Ada"
    assert decoded(first).etag == 'W/"1"'


def test_a_new_version_is_encoded_afresh() -> None:
    encoded = EncodedUsers(10)
    encoded.encode(a_user())

    newer = decoded(encoded.encode(a_user(version=2, display_name="Ada L.")))

    assert (newer.display_name, newer.etag) == ("Ada L.", 'W/"2"')


def test_an_older_version_read_later_is_encoded_as_it_is_never_as_the_newer() -> None:
    encoded = EncodedUsers(10)
    encoded.encode(a_user(version=2, display_name="Ada L."))

    older = decoded(encoded.encode(a_user()))

    assert (older.display_name, older.etag) == ("Ada", 'W/"1"')


def test_any_field_that_differs_is_a_different_value_even_at_the_same_version() -> None:
    encoded = EncodedUsers(10)
    encoded.encode(a_user())

    assert decoded(encoded.encode(a_user(state=UserState.DISABLED))).state == (
        user_pb2.User.STATE_DISABLED
    )


def test_the_number_of_users_kept_is_bounded() -> None:
    encoded = EncodedUsers(2)
    users = [a_user(id=uuid.UUID(int=n)) for n in range(5)]
    for user in users:
        encoded.encode(user)

    assert len(encoded._entries) == 2
    assert decoded(encoded.encode(users[0])).id == str(users[0].id)
