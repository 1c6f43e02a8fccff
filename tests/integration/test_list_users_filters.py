"""ListUsers' filters and page tokens: what a filter selects, and what is refused as INVALID_FILTER,
INVALID_PAGE_TOKEN or PERMISSION_DENIED.

An administrator calls a real server on each backend. Users are inserted straight into the
database (one argon2 hash shared by all of them); everything asserted is read through the API.
"""

from __future__ import annotations

import uuid

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.accounts import insert_users
from tests.support.flows import Caller, rpc_failure, signed_in_admin, signed_in_user, users
from tests.support.rich_errors import RichError
from tests.support.user_listing import emails_page_by_page, list_users
from userservice.v1 import user_pb2

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


async def all_emails(channel: grpc.aio.Channel, caller: Caller, filter_text: str) -> list[str]:
    """Every user the filter selects, sorted."""
    return sorted(await emails_page_by_page(channel, caller, filter_text, page_size=0))


async def disable(channel: grpc.aio.Channel, admin: Caller, user_id: uuid.UUID) -> None:
    await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id=str(user_id), state=user_pb2.User.STATE_DISABLED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=admin.metadata,
    )


def assert_invalid(error: RichError, reason: str, field: str) -> None:
    assert error.code is INVALID_ARGUMENT
    assert error.error_info.reason == reason
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == [field]


async def test_an_email_prefix_filter_returns_only_emails_with_that_prefix(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    await insert_users(
        app,
        ["ab1@x.io", "abc@x.io", "ab.long@y.io", "a-b@x.io", "xab@x.io", "ba@x.io"]
        + [f"ab-many-{i:03d}@x.io" for i in range(120)],
    )
    expected = sorted(
        ["ab1@x.io", "abc@x.io", "ab.long@y.io"] + [f"ab-many-{i:03d}@x.io" for i in range(120)]
    )

    # Both AIP-160 spellings, across several pages of the default size.
    assert await all_emails(channel, admin, 'email = "ab*"') == expected
    assert await all_emails(channel, admin, 'email:"ab*"') == expected
    assert await all_emails(channel, admin, 'email = "ab1@x.io"') == ["ab1@x.io"]


async def test_like_wildcards_in_an_email_prefix_are_matched_literally(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    await insert_users(
        app, ["a_b1@x.io", "axb2@x.io", "a%c1@x.io", "azzc2@x.io", r"a\d@x.io", "ad@x.io"]
    )

    assert await all_emails(channel, admin, 'email = "a_b*"') == ["a_b1@x.io"]
    assert await all_emails(channel, admin, 'email = "a%c*"') == ["a%c1@x.io"]
    assert await all_emails(channel, admin, 'email = "a%*"') == ["a%c1@x.io"]
    # The escape character itself is literal too (a bare value may hold a backslash).
    assert await all_emails(channel, admin, r"email = a\*") == [r"a\d@x.io"]


async def test_a_state_filter_returns_only_users_in_that_state_and_combines_with_and(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    emails = ["ab-on@x.io", "ab-off@x.io", "cd-on@x.io", "cd-off@x.io"]
    ids = dict(zip(emails, await insert_users(app, emails), strict=True))
    await disable(channel, admin, ids["ab-off@x.io"])
    await disable(channel, admin, ids["cd-off@x.io"])

    disabled = await list_users(channel, admin, filter="state = STATE_DISABLED")
    active = await all_emails(channel, admin, "state = STATE_ACTIVE")
    both = await all_emails(channel, admin, 'email = "ab*" AND state = STATE_DISABLED')

    assert sorted(u.email for u in disabled.users) == ["ab-off@x.io", "cd-off@x.io"]
    assert {u.state for u in disabled.users} == {user_pb2.User.STATE_DISABLED}
    assert active == sorted(["ab-on@x.io", "cd-on@x.io", admin.account.email])
    assert both == ["ab-off@x.io"]


async def test_a_malformed_filter_is_invalid_filter(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)

    for bad in (
        'nickname = "x"',
        'email = "a*b*"',
        "state = STATE_BOGUS",
        'email = "a*" OR state = STATE_ACTIVE',
        'email = "a*" AND email = "b*"',
        "x" * 600,
    ):
        error = await rpc_failure(list_users(channel, admin, filter=bad))
        assert_invalid(error, "INVALID_FILTER", "filter")


async def test_a_page_token_that_was_edited_belongs_elsewhere_or_is_garbage_is_refused(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    await insert_users(app, [f"token-{i}@x.io" for i in range(5)])
    token = (await list_users(channel, admin, page_size=2)).next_page_token
    other = await list_users(channel, admin, page_size=2, filter="state = STATE_ACTIVE")
    assert token
    assert other.next_page_token
    # The genuine token continues its own query.
    assert len((await list_users(channel, admin, page_size=2, page_token=token)).users) == 2

    flipped = [
        token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        for i in (0, len(token) // 2, len(token) - 1)
    ]
    for bad in (
        *flipped,
        other.next_page_token,  # issued for another filter
        "garbage",
        "a.b",
        "ünïcode.tökén",
        "x" * 600,
    ):
        error = await rpc_failure(list_users(channel, admin, page_size=2, page_token=bad))
        assert_invalid(error, "INVALID_PAGE_TOKEN", "page_token")


async def test_a_user_who_is_not_an_administrator_cannot_list_users(
    channel: grpc.aio.Channel,
) -> None:
    user = await signed_in_user(channel)

    error = await rpc_failure(list_users(channel, user))

    assert error.code is grpc.StatusCode.PERMISSION_DENIED
