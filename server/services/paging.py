"""Opaque page tokens for keyset pagination: signed, bound to the query they continue.

A token is base64url(JSON) + "." + HMAC-SHA256 over it. A token edited by the caller, issued for
another filter, or made with another key is INVALID_ARGUMENT. Keyset paging (after the order key
of the last row seen: its id, or its email under a prefix filter) is stable while rows are added:
nothing that existed when paging began is skipped or repeated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from server.errors import InvalidArgument, Reason

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE_TOKEN_LENGTH = 512


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def invalid_token() -> InvalidArgument:
    return InvalidArgument.for_field(
        "page_token", "is not a page token of this query", reason=Reason.INVALID_PAGE_TOKEN
    )


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, body: bytes) -> str:
        digest = hmac.new(self._secret, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, query: str, after: str | uuid.UUID) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps({"q": query, "a": str(after)}, separators=(",", ":")).encode()
        ).rstrip(b"=")
        return f"{body.decode()}.{self._mac(body)}"

    def decode(self, token: str, query: str) -> str | None:
        """The cursor (the order key of the last row seen) to continue after; None for the first
        page (an empty token)."""
        if not token:
            return None
        # Tokens we issue are ASCII; hmac.compare_digest raises TypeError on non-ASCII text.
        if len(token) > MAX_PAGE_TOKEN_LENGTH or not token.isascii() or token.count(".") != 1:
            raise invalid_token()
        body_text, mac = token.split(".")
        body = body_text.encode("ascii", "replace")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise invalid_token()
        try:
            data = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
            after = data["a"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise invalid_token() from None
        if data.get("q") != query or not isinstance(after, str):
            raise invalid_token()
        return after

    def decode_id(self, token: str, query: str) -> uuid.UUID | None:
        """`decode` for queries in id order: the id to continue after."""
        after = self.decode(token, query)
        if after is None:
            return None
        try:
            return uuid.UUID(after)
        except ValueError:
            raise invalid_token() from None


async def keyset_page(
    fetch: Callable[[int], Awaitable[Sequence[T]]],
    *,
    limit: int,
    next_token: Callable[[T], str],
) -> tuple[list[T], str]:
    """One page of at most `limit` items and the token of the next ("" after the last page).
    `fetch(n)` reads up to n items after the cursor: one more than the page is read, so whether
    another page follows is known without counting."""
    items = await fetch(limit + 1)
    page = list(items[:limit])
    return page, next_token(page[-1]) if len(items) > limit else ""
