"""Look-alike emails share a key, mixed-script local parts and invisible display-name characters
are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.errors import InvalidArgument
from server.services.inputs import (
    check_display_name,
    email_key,
    is_single_script,
    normalize_email,
)

FULLWIDTH_K = "\uff4b"
CYRILLIC_O = "\u043e"


def key(raw: str) -> str:
    return email_key(normalize_email(raw))


def refusal(raw: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as refused:
        normalize_email(raw)
    return refused.value


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (f"{FULLWIDTH_K}nown@x.io", "known@x.io"),
        ("STRASSE@x.io", "straße@x.io"),
        ("\u039f\u0394\u039f\u03a3@x.io", "\u03bf\u03b4\u03bf\u03c2@x.io"),  # ΟΔΟΣ, οδος
        ("Known@X.IO", "known@x.io"),
    ],
    ids=["fullwidth", "sharp-s", "greek-final-sigma", "ascii-case"],
)
def test_look_alike_addresses_share_one_key(one: str, other: str) -> None:
    assert key(one) == key(other)


def test_normalize_email_still_returns_the_address_as_written_lower_cased() -> None:
    assert normalize_email(" Straße@X.io ") == "straße@x.io"
    assert normalize_email(f"{FULLWIDTH_K}nown@x.io") == f"{FULLWIDTH_K}nown@x.io"


def test_different_addresses_keep_different_keys() -> None:
    assert key("known@x.io") != key("knowm@x.io")
    assert key("strasse@x.io") != key("strase@x.io")


def test_a_local_part_mixing_latin_and_cyrillic_is_refused() -> None:
    error = refusal(f"kn{CYRILLIC_O}wn@x.io")

    assert [v.field for v in error.violations] == ["email"]
    assert "scripts" in error.violations[0].description


@pytest.mark.parametrize(
    "address",
    [
        "jane.doe+tag-2@x.io",
        "\u0438\u0432\u0430\u043d.\u043f\u0435\u0442\u0440\u043e\u0432@x.io",  # all Cyrillic
        "\u03bf\u03b4\u03bf\u03c2@x.io",  # all Greek
        "\u5c71\u7530\u305f\u308d\u3046\u30bf\u30ed\u30fc@x.jp",  # Han + Hiragana + Katakana
        "\u5b89\ud55c\uad6d@x.kr",  # Han + Hangul
        "\u00e9l\u00e8ve.fran\u00e7ais@x.fr",  # Latin with accents
    ],
    ids=["ascii", "cyrillic", "greek", "japanese", "korean", "accented-latin"],
)
def test_single_script_local_parts_are_accepted(address: str) -> None:
    normalize_email(address)


def test_japanese_and_korean_kana_hangul_do_not_mix() -> None:
    assert not is_single_script("\u305f\ud55c")  # Hiragana + Hangul


@given(st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1))
def test_any_ascii_alphanumeric_text_is_single_script(text: str) -> None:
    assert is_single_script(text)


@given(st.emails())
def test_the_key_is_idempotent(email: str) -> None:
    first = email_key(email)

    assert email_key(first) == first


@pytest.mark.parametrize(
    "character",
    ["\u202e", "\u200b", "\u200d", "\u2066", "\ufeff", "\u2028", "\x07"],
    ids=["rtl-override", "zero-width-space", "zwj", "isolate", "bom", "line-separator", "bell"],
)
def test_a_display_name_with_an_invisible_character_is_refused(character: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_display_name(f"Ada{character}Lovelace")

    assert [v.field for v in refused.value.violations] == ["display_name"]


def test_a_display_name_in_any_script_with_marks_is_accepted() -> None:
    assert check_display_name(" Zoë \u5c71\u7530 \u0418\u0432\u0430\u043d ") == (
        "Zoë \u5c71\u7530 \u0418\u0432\u0430\u043d"
    )
