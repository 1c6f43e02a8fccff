"""Scopes a request names: how many it may carry, which exist, which an account may be granted.

Messages name at most a few offending scopes, each cut short: an error answer stays small
whatever a request carried.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.domain import Scope
from server.errors import InvalidArgument, PermissionDenied, Reason

# A request names at most this many scopes (there are four; duplicates are harmless).
MAX_SCOPES_PER_REQUEST = 32
_ECHOED_SCOPES = 3
_ECHOED_SCOPE_CHARS = 40


def check_scope_count(raw: Sequence[str], *, field: str) -> None:
    if len(raw) > MAX_SCOPES_PER_REQUEST:
        raise InvalidArgument.for_field(
            field, f"at most {MAX_SCOPES_PER_REQUEST} scopes per request, got {len(raw)}"
        )


def named_briefly(values: Sequence[str]) -> str:
    """A few of `values`, each cut short: an error message stays small whatever was sent."""
    shown = ", ".join(repr(v[:_ECHOED_SCOPE_CHARS]) for v in values[:_ECHOED_SCOPES])
    more = len(values) - _ECHOED_SCOPES
    return f"{shown} and {more} more" if more > 0 else shown


def check_scopes(raw: Sequence[str], *, field: str) -> tuple[str, ...]:
    check_scope_count(raw, field=field)
    known = {scope.value for scope in Scope}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidArgument.for_field(
            field, f"unknown scope {named_briefly(unknown)}; one of {', '.join(sorted(known))}"
        )
    return tuple(sorted(set(raw)))


def check_requested(requested: Sequence[str], held: Sequence[str]) -> tuple[str, ...]:
    """The scopes to grant: all the account holds when none are asked for, else exactly those."""
    if not requested:
        return tuple(sorted(held))
    missing = sorted(set(requested) - set(held))
    if missing:
        raise PermissionDenied(
            f"this service account does not hold {named_briefly(missing)}",
            reason=Reason.SCOPE_NOT_GRANTED,
        )
    return tuple(sorted(set(requested)))
