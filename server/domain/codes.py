"""One-time codes: what they prove and how they are stored."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass


class CodePurpose(enum.StrEnum):
    """What a one-time code proves."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret


@dataclass(frozen=True, slots=True)
class OneTimeCode:
    """A one-time code as stored: only its HMAC (`code_hash`), for the address it was sent to."""

    code_hash: bytes
    purpose: CodePurpose
    user_id: uuid.UUID
    email: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
