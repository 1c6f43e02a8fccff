"""The upper bound of an email-prefix range: s starts with p exactly when p <= s < bound(p)."""

from __future__ import annotations

import sys

from hypothesis import example, given
from hypothesis import strategies as st

from server.repositories.users import prefix_upper_bound

MAX = chr(sys.maxunicode)
# Surrogates cannot be stored (not UTF-8); every other code point can.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)


@given(prefix=text, candidate=text)
@example(prefix="a\ud7ff", candidate="a\ue000")
@example(prefix="a\ud7ff", candidate="a\ud7ffz")
@example(prefix=f"a{MAX}", candidate="b")
@example(prefix=f"a{MAX}", candidate=f"a{MAX}{MAX}")
@example(prefix=MAX, candidate=MAX)
def test_the_range_holds_exactly_the_strings_with_the_prefix(prefix: str, candidate: str) -> None:
    bound = prefix_upper_bound(prefix)
    in_range = prefix <= candidate and (bound is None or candidate < bound)

    assert in_range is candidate.startswith(prefix)


def test_the_bound_is_never_a_surrogate_and_none_only_when_there_is_no_upper_end() -> None:
    assert prefix_upper_bound("a\ud7ff") == "a\ue000"
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound(f"a{MAX}{MAX}") == "b"
    assert prefix_upper_bound("") is None
    assert prefix_upper_bound(MAX * 3) is None
