"""The ListUsers filter: an AIP-160 subset — `email = "prefix*"` (or exact) and `state = STATE_X`,
joined by AND."""

from __future__ import annotations

import re

from server.domain import UserFilter, UserState
from server.errors import InvalidArgument, Reason

MAX_FILTER_LENGTH = 512
_TERM = re.compile(
    r'\s*(?P<field>email|state)\s*(?:=|:)\s*(?:"(?P<quoted>[^"\\]*)"|(?P<bare>[^\s"]+))\s*'
)
_STATES = {"STATE_ACTIVE": UserState.ACTIVE, "STATE_DISABLED": UserState.DISABLED}


def invalid_filter(why: str) -> InvalidArgument:
    return InvalidArgument.for_field("filter", why, reason=Reason.INVALID_FILTER)


def parse_user_filter(text: str) -> UserFilter:
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"must be at most {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        # No email holds it, and PostgreSQL refuses it in a text parameter (an INTERNAL, else).
        raise invalid_filter("must not contain the NUL character")
    if not text.strip():
        return UserFilter()
    values: dict[str, str] = {}
    for index, term in enumerate(re.split(r"\s+AND\s+", text.strip())):
        match = _TERM.fullmatch(term)
        if match is None:
            raise invalid_filter(
                f'term {index + 1} is not `email = "prefix*"` or `state = STATE_…`'
            )
        field, value = (
            match["field"],
            match["quoted"] if match["quoted"] is not None else match["bare"],
        )
        if field in values:
            raise invalid_filter(f"{field} is given twice")
        values[field] = value
    state = None
    if "state" in values:
        state = _STATES.get(values["state"])
        if state is None:
            raise invalid_filter("state must be STATE_ACTIVE or STATE_DISABLED")
    email = values.get("email", "").lower()
    if "*" in email.rstrip("*") or email.count("*") > 1:
        raise invalid_filter("email takes one trailing * for a prefix")
    if email.endswith("*"):
        return UserFilter(email_prefix=email[:-1] or None, state=state)
    return UserFilter(email_exact=email or None, state=state)
