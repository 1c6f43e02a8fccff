"""ListUsers as an administrator sees it: one page, or every page in the order served."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc.aio

from tests.support.flows import Caller, users
from userservice.v1 import user_pb2


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
