"""The password policy of NIST SP 800-63B: length in code points, a blocklist, no composition rules.

Passwords are taken exactly as given: no trimming, no normalisation. Refused:
- fewer than `min_length` or more than `max_length` code points, or a NUL;
- one of the 30,000 most common passwords bundled with zxcvbn, compared case-insensitively;
- the account's email or its local part;
- predictable: zxcvbn estimates fewer than 10^10 guesses (its strongest score's floor) with the
  email, its local part and the local part's words as context. That refuses what 800-63B lists
  (repetitive, sequential and keyboard patterns, context-specific words: `123456789012`,
  `aaaaaaaaaaaa`, `qwertyuiopas`, `abcdefghijkl`, the local part repeated or with a year after
  it) while any 12 characters zxcvbn finds no pattern in count as 10^12, and a passphrase of a
  few words is far above the floor ("correct horse battery staple": about 10^20).

The password is attacker-chosen, so the estimate is bounded to a few milliseconds:
- only the first 40 code points are estimated. zxcvbn's scoring grows with the cube of the
  length (about 3 ms at 32 code points, 15 at 64, 60 to 150 at 128); whatever follows can only
  add guesses, so a password whose first 40 code points pass is strong enough, and one whose
  first 40 are predictable is refused whatever follows them;
- dictionary look-ups try only substrings as long as the longest word (zxcvbn tries all of them);
- l33t substitution (`p4ssw0rd`) is left out: its enumeration grows exponentially with the
  distinct l33t characters present (seconds for 24 of them).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

from zxcvbn import matching, scoring
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from server.errors import InvalidArgument, Reason

MAX_PASSWORD_LENGTH = 128
MIN_GUESSES: Final = 10**10
ESTIMATED_PREFIX: Final = 40  # code points

_Match = dict[str, Any]
_GREEDY_REPEAT: Final = re.compile(r"(.+)\1+", re.DOTALL)
_LAZY_REPEAT: Final = re.compile(r"(.+?)\1+", re.DOTALL)
_LAZY_ANCHORED_REPEAT: Final = re.compile(r"^(.+?)\1+$", re.DOTALL)
_CHEAP_MATCHERS: Final = (matching.spatial_match, matching.sequence_match, matching.date_match)


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


@cache
def _ranked_words() -> tuple[dict[str, tuple[tuple[str, int], ...]], int]:
    """Every zxcvbn dictionary merged: word → (dictionary, rank) pairs; and the longest word."""
    words: dict[str, list[tuple[str, int]]] = {}
    for name, ranked in matching.RANKED_DICTIONARIES.items():
        if name != "user_inputs":  # zxcvbn() leaves the last caller's inputs there
            for word, rank in ranked.items():
                words.setdefault(word, []).append((name, rank))
    merged = {word: tuple(entries) for word, entries in words.items()}
    return merged, max(map(len, merged))


def _dictionary_matches(password: str, user_inputs: dict[str, int]) -> list[_Match]:
    words, longest = _ranked_words()
    longest = max(longest, *map(len, user_inputs), 1)
    lower = password.lower()
    found: list[_Match] = []
    for i in range(len(lower)):
        for j in range(i, min(len(lower), i + longest)):
            word = lower[i : j + 1]
            entries = words.get(word, ())
            if word in user_inputs:
                entries = (*entries, ("user_inputs", user_inputs[word]))
            found.extend(
                {
                    "pattern": "dictionary",
                    "i": i,
                    "j": j,
                    "token": password[i : j + 1],
                    "matched_word": word,
                    "rank": rank,
                    "dictionary_name": name,
                    "reversed": False,
                    "l33t": False,
                }
                for name, rank in entries
            )
    return found


def _reversed_dictionary_matches(password: str, user_inputs: dict[str, int]) -> list[_Match]:
    last = len(password) - 1
    found = _dictionary_matches(password[::-1], user_inputs)
    for match in found:
        match["token"] = match["token"][::-1]
        match["reversed"] = True
        match["i"], match["j"] = last - match["j"], last - match["i"]
    return found


def _repeat_matches(password: str, user_inputs: dict[str, int]) -> list[_Match]:
    """zxcvbn's repeat matcher, its base token estimated by this module's matchers."""
    found: list[_Match] = []
    start = 0
    while start < len(password):
        greedy = _GREEDY_REPEAT.search(password, start)
        lazy = _LAZY_REPEAT.search(password, start)
        if greedy is None or lazy is None:
            break
        if len(greedy.group(0)) > len(lazy.group(0)):
            match, anchored = greedy, _LAZY_ANCHORED_REPEAT.search(greedy.group(0))
            base = anchored.group(1) if anchored else greedy.group(1)
        else:
            match, base = lazy, lazy.group(1)
        analysis = scoring.most_guessable_match_sequence(base, _matches(base, user_inputs))
        found.append(
            {
                "pattern": "repeat",
                "i": match.start(),
                "j": match.end() - 1,
                "token": match.group(0),
                "base_token": base,
                "base_guesses": analysis["guesses"],
                "base_matches": analysis["sequence"],
                "repeat_count": len(match.group(0)) / len(base),
            }
        )
        start = match.end()
    return found


def _matches(password: str, user_inputs: dict[str, int]) -> list[_Match]:
    found = _dictionary_matches(password, user_inputs)
    found += _reversed_dictionary_matches(password, user_inputs)
    found += _repeat_matches(password, user_inputs)
    for matcher in _CHEAP_MATCHERS:
        found += matcher(password)
    found += matching.regex_match(password)
    return sorted(found, key=lambda m: (m["i"], m["j"]))


def _period(password: str) -> str:
    """The shortest base the password repeats at least twice (its last copy may be cut short);
    the password itself when it repeats nothing."""
    for length in range(1, len(password) // 2 + 1):
        if password[length:] == password[:-length]:
            return password[:length]
    return password


def estimated_guesses(password: str, *, context: list[str]) -> float:
    """zxcvbn's estimate of the guesses an attacker needs, `context` counting as known words.

    Estimated: the first 40 code points, or for a password that repeats a base throughout
    (`abcabcabc…`, the local part twice), the base's first 40 times the number of copies, as
    zxcvbn rates a repetition: the repetition of a long base must not hide past the 40th."""
    base = _period(password)
    sample = base[:ESTIMATED_PREFIX]
    words = [word.lower()[:length] for word in context if word for length in (None, len(sample))]
    user_inputs = matching.build_ranked_dict(list(dict.fromkeys(words)))
    result = scoring.most_guessable_match_sequence(sample, _matches(sample, user_inputs))
    return float(result["guesses"]) * (len(password) / len(base))


def email_context(email: str) -> list[str]:
    local_part, _, domain = email.casefold().partition("@")
    words = [w for w in re.split(r"[\W_]+", local_part) if len(w) >= 3]
    return [email.casefold(), local_part, *words, domain.partition(".")[0]]


class PasswordPolicy:
    def __init__(self, *, min_length: int, max_length: int = MAX_PASSWORD_LENGTH) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self._common = common_passwords()
        _ranked_words()  # built once here (about 0.3 s), not in the first sign-up

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
        if estimated_guesses(password, context=email_context(email)) < MIN_GUESSES:
            raise InvalidArgument.for_field(
                field,
                "is too predictable (a sequence, repetition, keyboard pattern, date, common "
                "words or the email); a few unrelated words make a strong password",
                reason=Reason.PASSWORD_TOO_PREDICTABLE,
            )
