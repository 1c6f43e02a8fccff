"""Issuing and checking one-time codes, and the events that carry them to the user.

A code is issued in the unit of work of its request: its hash in `uow.codes`, the plaintext only
in the event's secret part (sealed at rest, shown only to notifications:read). A code is checked
by consuming it (a compare-and-set): it works once, before it expires, for the purpose it was
issued for. (ARCHITECTURE.md, "Account recovery".)
"""

from __future__ import annotations

import datetime as dt
import uuid

from server.domain import CodePurpose, EventType, OneTimeCode, Party, Principal
from server.errors import InvalidArgument, Reason
from server.security.one_time_codes import MAX_CODE_LENGTH, CodeMinter
from server.services.event_log import new_event
from server.services.inputs import require_text
from server.services.unit_of_work import UnitOfWork


def code_invalid(field: str = "code") -> InvalidArgument:
    # One answer for unknown, used, expired and superseded codes: the caller learns no more.
    return InvalidArgument.for_field(
        field, "is not a valid code (unknown, used or expired)", reason=Reason.CODE_INVALID
    )


class CodeIssuer:
    """Codes of one lifetime, hashed with one key."""

    def __init__(self, minter: CodeMinter, ttl: dt.timedelta) -> None:
        self._minter = minter
        self._ttl = ttl

    def digest(self, raw: str, *, field: str = "code") -> bytes:
        """The stored form of a code the caller sent; INVALID_ARGUMENT for an empty or oversized
        one (any other string is only a code that matches nothing)."""
        return self._minter.digest(require_text(raw, field=field, max_length=MAX_CODE_LENGTH))

    def mint(self) -> tuple[str, bytes]:
        return self._minter.new()

    async def issue(
        self,
        uow: UnitOfWork,
        minted: tuple[str, bytes],
        *,
        purpose: CodePurpose,
        user_id: uuid.UUID,
        email: str,
        now: dt.datetime,
        actor: Principal | Party | None = None,
    ) -> None:
        """Stores the minted code's hash and appends the event that carries the code."""
        code, code_hash = minted
        # A newer code supersedes every earlier one of its kind: one live code per user.
        await uow.codes.void_all(user_id, purpose, now)
        await uow.codes.add(OneTimeCode(code_hash, purpose, user_id, email, now, now + self._ttl))
        kind = (
            EventType.PASSWORD_RESET_REQUESTED
            if purpose is CodePurpose.PASSWORD_RESET
            else EventType.EMAIL_VERIFICATION_REQUESTED
        )
        uow.events.append(
            new_event(
                kind,
                actor=actor,
                target=Party.user(user_id),
                now=now,
                data={"expires_at": (now + self._ttl).isoformat()},
                secret={"code": code, "email": email},
            )
        )
