"""Users: who signs in, how they are stored, listed and changed."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
import uuid
from dataclasses import dataclass


def email_key(email: str) -> str:
    """The form two addresses that look alike share: two addresses are one account when their
    keys are equal. NFKC, then Unicode case folding, then NFKC again (folding can undo the normal
    form). Takes an address as `normalize_email` returns it.

    That address is what the user wrote, trimmed, NFC (email_validator's normalisation) and
    lower-cased with `str.lower()`: what mail is sent to and shown. This key also maps
    compatibility forms together (fullwidth K, U+FF4B, becomes k) and folds case the Unicode way
    (sharp s becomes ss, Greek final sigma the medial one), so the fullwidth-k `known@x.io`,
    `STRASSE@x.io` and upper-case Greek `ODOS` collide with `known@x.io`, `straße@x.io` and the
    lower-case Greek one.
    """
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded)


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserState(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    state: UserState
    email_verified: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


# Where a keyset page starts: the order key (an id, or an email) of the previous page's last row.
Cursor = str | uuid.UUID


@dataclass(frozen=True, slots=True)
class UserFilter:
    email_prefix: str | None = None
    email_exact: str | None = None
    state: UserState | None = None

    @property
    def canonical(self) -> str:
        """The same filter always reads the same, so a page token can be bound to it."""
        return f"p={self.email_prefix or ''};e={self.email_exact or ''};s={self.state or ''}"

    @property
    def ordered_by_email(self) -> bool:
        """The one place ListUsers' order is decided: a prefix filter reads one contiguous range
        of the email index, so it pages in email order; every other query pages in id order."""
        return self.email_prefix is not None

    def order_key(self, user: User) -> str:
        """The page cursor of `user`: its email in email order, else its id."""
        return user.email if self.ordered_by_email else str(user.id)

    def parse_cursor(self, cursor: str) -> Cursor:
        """A cursor read back from a page token, typed for this filter's order; ValueError when
        it cannot be one."""
        return cursor if self.ordered_by_email else uuid.UUID(cursor)


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The fields UpdateUser was asked to change (None: leave as is)."""

    display_name: str | None = None
    email: str | None = None
    role: Role | None = None
    state: UserState | None = None


@dataclass(frozen=True, slots=True)
class StoredUser:
    """A user with its password hash, which never leaves the service layer."""

    user: User
    password_hash: str
    # A new address the user asked for, taking effect when its code is verified.
    pending_email: str | None = None
