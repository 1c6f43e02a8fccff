"""Plain-text tables for people: fixed-width columns, two spaces apart, no dependency.

Cells come from the server (display names, user agents); anything that is not printable is shown
as `?`, so no value can move the cursor or recolour the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from google.protobuf import timestamp_pb2

from userservice.v1 import auth_pb2, user_pb2

GAP: Final = "  "
NONE: Final = "-"

USER_HEADERS: Final = ("ID", "EMAIL", "NAME", "ROLE", "STATE", "CREATED")
SESSION_HEADERS: Final = ("ID", "CREATED", "LAST USED", "EXPIRES", "CLIENT IP", "CURRENT")
KEY_HEADERS: Final = ("KID", "KTY", "ALG", "CRV")


def printable(cell: str) -> str:
    """The cell with every non-printable character (newline, escape, ...) replaced by `?`."""
    return "".join(c if c.isprintable() else "?" for c in cell)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns as wide as their widest cell; no trailing spaces.

    Every row must have one cell per header.
    """
    table = [[printable(cell) for cell in row] for row in (headers, *rows)]
    for row in table:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} columns")
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def render_fields(fields: Sequence[tuple[str, str]]) -> str:
    """One record as `name  value` lines, the values aligned."""
    width = max((len(name) for name, _ in fields), default=0)
    return "\n".join(
        f"{name.ljust(width)}{GAP}{printable(value)}".rstrip() for name, value in fields
    )


def timestamp(value: timestamp_pb2.Timestamp, present: bool = True) -> str:
    """`YYYY-MM-DD HH:MM:SSZ` (UTC), or `-` for an unset timestamp."""
    if not present:
        return NONE
    return f"{value.ToDatetime():%Y-%m-%d %H:%M:%S}Z"


def role_name(role: user_pb2.User.Role.ValueType) -> str:
    """`user`, `admin` (or the number of a role this client does not know)."""
    try:
        return user_pb2.User.Role.Name(role).removeprefix("ROLE_").lower()
    except ValueError:
        return str(int(role))


def state_name(state: user_pb2.User.State.ValueType) -> str:
    """`active`, `disabled` (or the number of a state this client does not know)."""
    try:
        return user_pb2.User.State.Name(state).removeprefix("STATE_").lower()
    except ValueError:
        return str(int(state))


def user_row(user: user_pb2.User) -> tuple[str, ...]:
    """A user under USER_HEADERS."""
    return (
        user.id,
        user.email,
        user.display_name or NONE,
        role_name(user.role),
        state_name(user.state),
        timestamp(user.create_time, user.HasField("create_time")),
    )


def user_fields(user: user_pb2.User) -> list[tuple[str, str]]:
    """Every field of a user worth showing, as (name, value) pairs."""
    return [
        ("id", user.id),
        ("email", user.email),
        ("display name", user.display_name or NONE),
        ("role", role_name(user.role)),
        ("state", state_name(user.state)),
        ("email verified", "yes" if user.email_verified else "no"),
        ("created", timestamp(user.create_time, user.HasField("create_time"))),
        ("updated", timestamp(user.update_time, user.HasField("update_time"))),
        ("etag", user.etag or NONE),
    ]


def session_row(session: auth_pb2.Session) -> tuple[str, ...]:
    """A session under SESSION_HEADERS (`*` marks the one making the call)."""
    return (
        session.id,
        timestamp(session.create_time, session.HasField("create_time")),
        timestamp(session.last_use_time, session.HasField("last_use_time")),
        timestamp(session.expire_time, session.HasField("expire_time")),
        session.client_ip or NONE,
        "*" if session.current else "",
    )


def key_row(key: auth_pb2.Jwk) -> tuple[str, ...]:
    """A published verification key under KEY_HEADERS."""
    return (key.kid, key.kty, key.alg, key.crv or NONE)


__all__ = [
    "KEY_HEADERS",
    "SESSION_HEADERS",
    "USER_HEADERS",
    "key_row",
    "printable",
    "render_fields",
    "render_table",
    "role_name",
    "session_row",
    "state_name",
    "timestamp",
    "user_fields",
    "user_row",
]
