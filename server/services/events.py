"""The event log's readers: WatchEvents (replay from a cursor, then follow) and ListEvents.

Who may read: administrators and service accounts holding events:read (the policy table admits
no one else; checked here again). The secret part of an event goes only to callers holding
notifications:read. A watcher reads in id order after its cursor; since event-writing
transactions commit in id order (ARCHITECTURE.md, "The event log"), a cursor never skips an
event committed later, and resuming from the last cursor received repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from server.cache.event_signal import EventSignal
from server.clock import Clock
from server.domain import Event, EventType, Principal, Scope
from server.errors import InvalidArgument, PermissionDenied, Reason, Unauthenticated
from server.services.event_filter import parse_event_filter
from server.services.paging import PageTokens, invalid_token, keyset_page, page_size
from server.services.unit_of_work import UnitOfWorkFactory

# Events one read of a watcher takes; a full batch is followed by the next read at once.
WATCH_BATCH = 500
START_NOW = "now"
_KNOWN_TYPES = frozenset(t.value for t in EventType)
_MAX_CURSOR_DIGITS = 19  # a PostgreSQL bigint


class EventService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        page_tokens: PageTokens,
        signal: EventSignal,
        poll_seconds: float,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._units = units
        self._page_tokens = page_tokens
        self._signal = signal
        self._poll_seconds = poll_seconds

    async def watch_events(
        self,
        *,
        after_cursor: str,
        types: Sequence[str],
        principal: Principal,
        still_allowed: Callable[[], Awaitable[Principal]],
    ) -> AsyncIterator[Event]:
        """Every event after the cursor, then each new one, until the caller goes away (its
        cancellation ends this at the next await), the service shuts down (returns), or the
        caller's token expires (TOKEN_EXPIRED; the SDK renews it and resumes).

        `still_allowed` authenticates the caller's token again before each read: a logout,
        revocation, demotion, disable or deletion acknowledged anywhere ends the stream (its
        refusal) before it delivers any event committed after it."""
        show = _viewer(principal)
        wanted = _types(types)
        cursor = await self._start(after_cursor)
        while not self._signal.closed:
            woken = self._signal.next_wake()  # before the read: no wake-up is lost
            show = _viewer(await still_allowed())
            async with self._units.read() as uow:
                batch = await uow.events.after(cursor, types=wanted, limit=WATCH_BATCH)
            for event in batch:  # no connection is held while the client takes them
                yield show(event)
                cursor = event.id
            left = (principal.expires_at - self._clock()).total_seconds()
            if left <= 0:
                raise Unauthenticated("the access token has expired", reason=Reason.TOKEN_EXPIRED)
            if len(batch) < WATCH_BATCH:
                # Woken by a commit here or on another replica (Redis), or the poll fallback.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(self._poll_seconds, left)):
                        await woken.wait()

    async def list_events(
        self, *, size: int, token: str, filter_text: str, principal: Principal
    ) -> tuple[list[Event], str]:
        show = _viewer(principal)
        limit = page_size(size)
        where = parse_event_filter(filter_text)
        query = f"events:{where.canonical}"
        after = None
        if (cursor := self._page_tokens.decode(token, query)) is not None:
            if not cursor.isdigit():
                raise invalid_token()
            after = int(cursor)
        async with self._units.read() as uow:
            page, next_token = await keyset_page(
                lambda n: uow.events.page(where=where, after=after, limit=n),
                limit=limit,
                next_token=lambda last: self._page_tokens.encode(query, str(last.id)),
            )
        return [show(event) for event in page], next_token

    async def _start(self, after_cursor: str) -> int:
        if after_cursor == START_NOW:
            async with self._units.read() as uow:
                return await uow.events.last_id()
        if not after_cursor:
            return 0
        if not after_cursor.isascii() or not after_cursor.isdigit():
            raise InvalidArgument.for_field("after_cursor", "must be an event's cursor or `now`")
        if len(after_cursor) > _MAX_CURSOR_DIGITS:
            raise InvalidArgument.for_field("after_cursor", "is not a cursor of this log")
        return int(after_cursor)


def _viewer(principal: Principal) -> Callable[[Event], Event]:
    """How `principal` sees events: refused unless an admin or events:read holder; with the
    secret part only for notifications:read."""
    if not (principal.is_admin or principal.has_scope(Scope.EVENTS_READ)):
        raise PermissionDenied(
            "reading events is for administrators and events:read services",
            reason=Reason.ADMIN_REQUIRED,
        )
    if principal.has_scope(Scope.NOTIFICATIONS_READ):
        return _as_is
    return Event.redacted


def _as_is(event: Event) -> Event:
    return event


def _types(types: Sequence[str]) -> frozenset[str]:
    unknown = sorted(set(types) - _KNOWN_TYPES)
    if unknown:
        named = ", ".join(repr(name[:64]) for name in unknown[:5])
        raise InvalidArgument.for_field("types", f"not event types: {named}")
    return frozenset(types)
