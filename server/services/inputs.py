"""Checks and normalisation of caller input, raising InvalidArgument with the field's name."""

from __future__ import annotations

import unicodedata
import uuid
from functools import cache
from typing import Final

import regex
from email_validator import EmailNotValidError, validate_email

# email_key is a domain rule (repositories enforce it); re-exported for the services' callers.
from server.domain import Principal
from server.domain import email_key as email_key
from server.errors import InvalidArgument

MAX_EMAIL_LENGTH = 320
MAX_DISPLAY_NAME_LENGTH = 200
ME = "me"

# UAX #31's Recommended scripts (table 5), the ones UTS #39's restriction levels build on: a
# local part's letters come from one of them, with Common and Inherited characters (digits,
# punctuation, combining marks) allowed alongside any.
RECOMMENDED_SCRIPTS: Final = (
    *("Arabic", "Armenian", "Bengali", "Bopomofo", "Cyrillic", "Devanagari", "Ethiopic"),
    *("Georgian", "Greek", "Gujarati", "Gurmukhi", "Han", "Hangul", "Hebrew", "Hiragana"),
    *("Kannada", "Katakana", "Khmer", "Lao", "Latin", "Malayalam", "Myanmar", "Oriya"),
    *("Sinhala", "Tamil", "Telugu", "Thaana", "Thai", "Tibetan"),
)
# UTS #39 §5.1: Han is written together with Hiragana and Katakana (Japanese), with Hangul
# (Korean) and with Bopomofo (Chinese); each such script also stands for its writing system.
_WRITING_SYSTEMS: Final = {
    "Han": {"Jpan", "Kore", "Hanb"},
    "Hiragana": {"Jpan"},
    "Katakana": {"Jpan"},
    "Hangul": {"Kore"},
    "Bopomofo": {"Hanb"},
}
_ANY_SCRIPT: Final = regex.compile(r"[\p{scx=Zyyy}\p{scx=Zinh}]")
# Refused in display names: controls, format characters (bidi overrides such as U+202E, zero
# widths such as U+200B), surrogates, and line or paragraph separators.
_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@cache
def _script_patterns() -> tuple[tuple[str, regex.Pattern[str]], ...]:
    return tuple((name, regex.compile(rf"\p{{scx={name}}}")) for name in RECOMMENDED_SCRIPTS)


def _scripts_of(character: str) -> set[str] | None:
    """The character's scripts (Script_Extensions) with their writing systems; None for a
    character every script uses (Common, Inherited); empty when no recommended script has it."""
    scripts = {name for name, pattern in _script_patterns() if pattern.match(character)}
    if not scripts:
        return None if _ANY_SCRIPT.match(character) else set()
    for name in list(scripts):
        scripts |= _WRITING_SYSTEMS.get(name, set())
    return scripts


def is_single_script(text: str) -> bool:
    """UTS #39 "highly restrictive": the characters' resolved script set is not empty, every
    script being a recommended one (Han with Hiragana and Katakana, Hangul or Bopomofo counts as
    one writing system)."""
    resolved: set[str] | None = None
    for character in text:
        scripts = _scripts_of(character)
        if scripts is None:
            continue
        resolved = scripts if resolved is None else resolved & scripts
        if not resolved:
            return False
    return True


def normalize_email(raw: str, *, field: str = "email") -> str:
    """Trimmed, syntax-checked (no DNS), a single-script local part, lower-cased (see email_key
    for the form used to compare addresses)."""
    email = raw.strip()
    if not email:
        raise InvalidArgument.for_field(field, "is required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidArgument.for_field(field, f"must be at most {MAX_EMAIL_LENGTH} characters")
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidArgument.for_field(field, f"is not a valid email address ({exc})") from None
    if not is_single_script(unicodedata.normalize("NFKC", checked.local_part)):
        raise InvalidArgument.for_field(
            field, "must not mix letters of different scripts in the part before the @"
        )
    return checked.normalized.lower()


def check_display_name(raw: str, *, field: str = "display_name") -> str:
    name = raw.strip()
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidArgument.for_field(
            field, f"must be at most {MAX_DISPLAY_NAME_LENGTH} characters"
        )
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in name):
        raise InvalidArgument.for_field(
            field, "must not contain control, format (bidi, zero-width) or separator characters"
        )
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
