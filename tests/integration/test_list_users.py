"""ListUsers: keyset paging that stays exact while users are added, page sizes, filters, tokens.

An administrator calls a real server on each backend. Bulk users are inserted straight into the
database (one argon2 hash shared by all of them); everything asserted is read through the API.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.accounts import id_between, insert_users, insert_users_with_ids
from tests.support.flows import (
    Caller,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.rich_errors import RichError
from userservice.v1 import user_pb2

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
EXISTING_USERS = 1000
PAGE_SIZE = 97
# Bounds every wait in the paging test; reached only if the inserter is stuck.
STEP_TIMEOUT_SECONDS = 10.0


async def list_users(
    channel: grpc.aio.Channel, caller: Caller, **fields: object
) -> user_pb2.ListUsersResponse:
    return await users(channel).ListUsers(
        user_pb2.ListUsersRequest(**fields),  # type: ignore[arg-type]
        metadata=caller.metadata,
    )


async def all_emails(channel: grpc.aio.Channel, caller: Caller, filter_text: str) -> list[str]:
    """Every user the filter selects, sorted."""
    return sorted(await emails_page_by_page(channel, caller, filter_text, page_size=0))


async def emails_page_by_page(
    channel: grpc.aio.Channel,
    caller: Caller,
    filter_text: str,
    *,
    page_size: int,
    between_pages: Callable[[], Awaitable[None]] | None = None,
) -> list[str]:
    """The emails of every page in the order served, following page tokens to the end."""
    emails: list[str] = []
    token = ""
    while True:
        page = await list_users(
            channel, caller, filter=filter_text, page_size=page_size, page_token=token
        )
        emails.extend(user.email for user in page.users)
        token = page.next_page_token
        if not token:
            return emails
        if between_pages is not None:
            await between_pages()


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


async def test_paging_while_users_are_added_returns_every_earlier_user_exactly_once(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    bulk = [f"paged-{i:04d}@example.com" for i in range(EXISTING_USERS)]
    bulk_ids = await insert_users(app, bulk)
    existing = {*map(str, bulk_ids), admin.id}
    low, high = min(bulk_ids), max(bulk_ids)
    rng = random.Random(20240611)

    # The inserter commits small transactions on its own task: one user through the repository
    # (the newest id) and two with ids among the existing ones, as a replica with a lagging
    # clock would mint them, so rows land both behind and ahead of the pager's cursor. Each
    # page read grants it two batches and the next page waits for at least one commit: rows
    # land between every two pages, and the second batch may overlap the next read.
    late: list[str] = []
    committed = 0
    changed = asyncio.Condition()
    credits = asyncio.Semaphore(0)
    stop = asyncio.Event()

    async def keep_adding_users() -> None:
        nonlocal committed
        while True:
            await credits.acquire()
            if stop.is_set():
                return
            lagging = {id_between(low, high, rng): unique_email("lagging") for _ in range(2)}
            await insert_users_with_ids(app, lagging)
            late.extend(map(str, lagging))
            late.extend(map(str, await insert_users(app, [unique_email("late")])))
            async with changed:
                committed += 1
                changed.notify_all()

    inserter = asyncio.create_task(keep_adding_users())
    seen: list[str] = []
    page_lengths: list[int] = []
    try:
        token = ""
        while True:
            before = committed
            page = await list_users(channel, admin, page_size=PAGE_SIZE, page_token=token)
            seen.extend(user.id for user in page.users)
            page_lengths.append(len(page.users))
            token = page.next_page_token
            if not token:
                break
            credits.release()
            credits.release()
            async with changed:
                await asyncio.wait_for(
                    changed.wait_for(lambda before=before: committed > before),
                    STEP_TIMEOUT_SECONDS,
                )
    finally:
        stop.set()
        credits.release()
        await asyncio.wait_for(inserter, STEP_TIMEOUT_SECONDS)

    counts = Counter(seen)
    assert [user_id for user_id, n in counts.items() if n > 1] == []
    assert sorted(existing - counts.keys()) == []
    assert set(seen) <= existing | set(late)
    # Users were really added while paging: at least one batch between any two pages.
    assert committed >= len(page_lengths) - 1 >= EXISTING_USERS // PAGE_SIZE
    assert all(n == PAGE_SIZE for n in page_lengths[:-1])


async def test_page_size_defaults_to_50_and_is_capped_at_500(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    await insert_users(app, [f"size-{i:04d}@example.com" for i in range(600)])

    default = await list_users(channel, admin)
    capped = await list_users(channel, admin, page_size=501)
    exact = await list_users(channel, admin, page_size=500)

    assert len(default.users) == 50
    assert default.next_page_token
    assert len(capped.users) == 500
    assert [u.id for u in capped.users] == [u.id for u in exact.users]
    rest = await list_users(channel, admin, page_size=500, page_token=capped.next_page_token)
    assert len(rest.users) == 601 - 500
    assert rest.next_page_token == ""


async def test_a_negative_page_size_is_invalid(app: Application, channel: grpc.aio.Channel) -> None:
    admin = await signed_in_admin(app, channel)

    error = await rpc_failure(list_users(channel, admin, page_size=-1))

    assert error.code is INVALID_ARGUMENT
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["page_size"]


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


async def test_an_email_prefix_listing_pages_in_code_point_order_of_the_email(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    # Inserted out of order; some sort differently by code point than by a linguistic collation
    # (capital-free, but punctuation and non-ASCII), and neighbours just outside the prefix.
    emails = ["pq-z@x.io", "pq.a@x.io", "pqé@x.io", "pq_b@x.io", "pqa@x.io", "pq@x.io", "pq~@x.io"]
    await insert_users(app, [*emails, "pp@x.io", "pr@x.io", "p@x.io"])

    seen = await emails_page_by_page(channel, admin, 'email = "pq*"', page_size=2)

    assert seen == sorted(emails)


async def test_users_added_behind_and_ahead_of_a_prefix_cursor_do_not_disturb_paging(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    earlier = [f"kk-{i:03d}@x.io" for i in range(0, 60, 2)]
    await insert_users(app, earlier)

    added = 0

    async def add_behind_and_ahead() -> None:
        # One behind the cursor (never shown now) and one ahead of it (shown when reached).
        nonlocal added
        await insert_users(app, [f"kk-{added:03d}a@x.io", f"kk-{59 - added:03d}b@x.io"])
        added += 1

    seen = await emails_page_by_page(
        channel, admin, 'email = "kk-*"', page_size=7, between_pages=add_behind_and_ahead
    )

    assert [email for email in seen if email in earlier] == earlier
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
