"""Checks and normalisation of caller input, raising InvalidArgument with the field's name."""

from __future__ import annotations

import unicodedata
import uuid

from email_validator import EmailNotValidError, validate_email

from server.domain import Principal
from server.errors import InvalidArgument

MAX_EMAIL_LENGTH = 320
MAX_DISPLAY_NAME_LENGTH = 200
ME = "me"


def normalize_email(raw: str, *, field: str = "email") -> str:
    """Trimmed, syntax-checked (no DNS), lower-cased."""
    email = raw.strip()
    if not email:
        raise InvalidArgument.for_field(field, "is required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidArgument.for_field(field, f"must be at most {MAX_EMAIL_LENGTH} characters")
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidArgument.for_field(field, f"is not a valid email address ({exc})") from None
    return checked.normalized.lower()


def check_display_name(raw: str, *, field: str = "display_name") -> str:
    name = raw.strip()
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidArgument.for_field(
            field, f"must be at most {MAX_DISPLAY_NAME_LENGTH} characters"
        )
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in name):
        raise InvalidArgument.for_field(field, "must not contain control characters")
    return name


def parse_id(raw: str, *, field: str) -> uuid.UUID:
    """The canonical 8-4-4-4-12 form only (either case).

    `uuid.UUID` also takes braces, a `urn:uuid:` prefix, stray hyphens anywhere (so
    "<uuid>-" or "<uuid>}" would name the same user) and whatever `int(…, 16)` accepts.
    """
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != raw.lower():
        raise InvalidArgument.for_field(field, "must be a UUID")
    return parsed


def resolve_user_ref(raw: str, principal: Principal | None, *, field: str) -> uuid.UUID:
    """A user id, or "me" for the calling user."""
    if raw == ME:
        if principal is None or principal.user_id is None:
            raise InvalidArgument.for_field(field, '"me" needs a user\'s access token')
        return principal.user_id
    if not raw:
        raise InvalidArgument.for_field(field, 'is required (a UUID, or "me")')
    return parse_id(raw, field=field)


def check_request_id(raw: str, *, field: str = "request_id") -> str | None:
    """Optional idempotency key: empty, or a UUID (AIP-155)."""
    if not raw:
        return None
    return str(parse_id(raw, field=field))


def require_text(raw: str, *, field: str, max_length: int) -> str:
    if not raw:
        raise InvalidArgument.for_field(field, "is required")
    if len(raw) > max_length:
        raise InvalidArgument.for_field(field, f"must be at most {max_length} characters")
    return raw
