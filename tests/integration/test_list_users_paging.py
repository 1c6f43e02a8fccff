"""ListUsers' keyset paging: exact while users are added, in id or email order, page sizes.

An administrator calls a real server on each backend. Bulk users are inserted straight into the
database (one argon2 hash shared by all of them); everything asserted is read through the API.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.accounts import id_between, insert_users, insert_users_with_ids
from tests.support.flows import rpc_failure, signed_in_admin, unique_email
from tests.support.user_listing import emails_page_by_page, list_users

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
EXISTING_USERS = 1000
PAGE_SIZE = 97
# Bounds every wait in the paging test; reached only if the inserter is stuck.
STEP_TIMEOUT_SECONDS = 10.0


@dataclass
class LateUsers:
    """Commits small transactions on its own task: one user through the repository (the newest
    id) and two with ids between `low` and `high`, as a replica with a lagging clock would mint
    them, so rows land both behind and ahead of a pager's cursor. One batch per credit."""

    app: Application
    low: uuid.UUID
    high: uuid.UUID
    rng: random.Random
    late: list[str] = field(default_factory=list)
    committed: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    credits: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(0))
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def keep_adding_users(self) -> None:
        while True:
            await self.credits.acquire()
            if self.stop.is_set():
                return
            lagging = {
                id_between(self.low, self.high, self.rng): unique_email("lagging") for _ in range(2)
            }
            await insert_users_with_ids(self.app, lagging)
            self.late.extend(map(str, lagging))
            self.late.extend(map(str, await insert_users(self.app, [unique_email("late")])))
            async with self.changed:
                self.committed += 1
                self.changed.notify_all()


async def test_paging_while_users_are_added_returns_every_earlier_user_exactly_once(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    bulk = [f"paged-{i:04d}@example.com" for i in range(EXISTING_USERS)]
    bulk_ids = await insert_users(app, bulk)
    existing = {*map(str, bulk_ids), admin.id}
    adder = LateUsers(app, min(bulk_ids), max(bulk_ids), random.Random(20240611))

    # Each page read grants the adder two batches and the next page waits for at least one
    # commit: rows land between every two pages, and the second batch may overlap the next read.
    inserter = asyncio.create_task(adder.keep_adding_users())
    seen: list[str] = []
    page_lengths: list[int] = []
    try:
        token = ""
        while True:
            before = adder.committed
            page = await list_users(channel, admin, page_size=PAGE_SIZE, page_token=token)
            seen.extend(user.id for user in page.users)
            page_lengths.append(len(page.users))
            token = page.next_page_token
            if not token:
                break
            adder.credits.release()
            adder.credits.release()
            async with adder.changed:
                await asyncio.wait_for(
                    adder.changed.wait_for(lambda before=before: adder.committed > before),
                    STEP_TIMEOUT_SECONDS,
                )
    finally:
        adder.stop.set()
        adder.credits.release()
        await asyncio.wait_for(inserter, STEP_TIMEOUT_SECONDS)

    counts = Counter(seen)
    assert [user_id for user_id, n in counts.items() if n > 1] == []
    assert sorted(existing - counts.keys()) == []
    assert set(seen) <= existing | set(adder.late)
    # Users were really added while paging: at least one batch between any two pages.
    assert adder.committed >= len(page_lengths) - 1 >= EXISTING_USERS // PAGE_SIZE
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
