"""The password policy of NIST SP 800-63B: length in code points, a blocklist, no composition rules.

Passwords are taken exactly as given: no trimming, no normalisation. Blocklist: the 30,000 most
common passwords bundled with zxcvbn, compared case-insensitively.
"""

from __future__ import annotations

from functools import cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from server.errors import InvalidArgument, Reason

MAX_PASSWORD_LENGTH = 128


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


class PasswordPolicy:
    def __init__(self, *, min_length: int, max_length: int = MAX_PASSWORD_LENGTH) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self._common = common_passwords()

    def check(self, password: str, *, email: str, field: str = "password") -> None:
        """Raises InvalidArgument (reason PASSWORD_*) when `password` may not be used."""
        length = len(password)  # code points: a str is a sequence of them
        if length < self.min_length:
            raise InvalidArgument.for_field(
                field,
                f"must be at least {self.min_length} characters (has {length})",
                reason=Reason.PASSWORD_TOO_SHORT,
            )
        if length > self.max_length:
            raise InvalidArgument.for_field(
                field,
                f"must be at most {self.max_length} characters",
                reason=Reason.PASSWORD_TOO_LONG,
            )
        if "\x00" in password:
            # Other systems truncate at NUL; refusing it keeps a password meaning one thing.
            raise InvalidArgument.for_field(
                field,
                "must not contain the NUL character",
                reason=Reason.PASSWORD_INVALID_CHARACTER,
            )
        folded = password.casefold()
        if folded in self._common:
            raise InvalidArgument.for_field(
                field, "is one of the most common passwords", reason=Reason.PASSWORD_TOO_COMMON
            )
        local_part = email.partition("@")[0]
        if folded in {email.casefold(), local_part.casefold()}:
            raise InvalidArgument.for_field(
                field, "must not be the account's email", reason=Reason.PASSWORD_IS_EMAIL
            )
