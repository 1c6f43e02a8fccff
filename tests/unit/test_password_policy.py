"""The password policy (NIST SP 800-63B): length in code points, a blocklist, not the email."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.errors import InvalidArgument
from server.security.password_policy import PasswordPolicy, common_passwords

EMAIL = "jane.doe.example@example.com"
LOCAL_PART = "jane.doe.example"  # 16 characters: long enough to be a password on its own
EMOJI = "\U0001f512"  # one code point, four UTF-8 bytes
COMBINING_ACUTE = "\u0301"


@pytest.fixture
def policy() -> PasswordPolicy:
    return PasswordPolicy(min_length=12)


def rejection(policy: PasswordPolicy, password: str, *, email: str = EMAIL) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as rejected:
        policy.check(password, email=email)
    return rejected.value


def test_eleven_code_points_are_too_short(policy: PasswordPolicy) -> None:
    error = rejection(policy, "k7#Vq9!mZ2w")

    assert error.reason == "PASSWORD_TOO_SHORT"
    assert [v.field for v in error.violations] == ["password"]


def test_twelve_code_points_are_enough(policy: PasswordPolicy) -> None:
    policy.check("k7#Vq9!mZ2wX", email=EMAIL)


def test_one_hundred_twenty_eight_code_points_are_allowed(policy: PasswordPolicy) -> None:
    policy.check("k7#Vq9!mZ2wX" * 10 + "abcdefgh", email=EMAIL)


def test_one_hundred_twenty_nine_code_points_are_too_long(policy: PasswordPolicy) -> None:
    error = rejection(policy, "k7#Vq9!mZ2wX" * 10 + "abcdefghi")

    assert error.reason == "PASSWORD_TOO_LONG"


def test_length_counts_code_points_not_utf8_bytes(policy: PasswordPolicy) -> None:
    assert len((EMOJI * 12).encode()) == 48

    policy.check(EMOJI * 12, email=EMAIL)
    assert rejection(policy, EMOJI * 11).reason == "PASSWORD_TOO_SHORT"


def test_the_maximum_is_code_points_too(policy: PasswordPolicy) -> None:
    policy.check(EMOJI * 128, email=EMAIL)  # 512 bytes
    assert rejection(policy, EMOJI * 129).reason == "PASSWORD_TOO_LONG"


def test_a_combining_character_counts_as_a_code_point_of_its_own(
    policy: PasswordPolicy,
) -> None:
    # Six letters each with a combining accent: six glyphs, twelve code points.
    accented = ("e" + COMBINING_ACUTE) * 6
    assert len(accented) == 12

    policy.check(accented, email=EMAIL)
    assert rejection(policy, accented[:-1]).reason == "PASSWORD_TOO_SHORT"


def test_the_nul_character_is_refused(policy: PasswordPolicy) -> None:
    error = rejection(policy, "k7#Vq9!m\x00Z2wX")

    assert error.reason == "PASSWORD_INVALID_CHARACTER"


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "QwErTy123456"])
def test_a_common_password_is_refused_in_any_case(policy: PasswordPolicy, password: str) -> None:
    assert "qwerty123456" in common_passwords()

    assert rejection(policy, password).reason == "PASSWORD_TOO_COMMON"


def test_the_email_is_refused_as_a_password(policy: PasswordPolicy) -> None:
    assert rejection(policy, EMAIL).reason == "PASSWORD_IS_EMAIL"
    assert rejection(policy, EMAIL.upper()).reason == "PASSWORD_IS_EMAIL"


def test_the_local_part_of_the_email_is_refused_as_a_password(policy: PasswordPolicy) -> None:
    assert rejection(policy, LOCAL_PART).reason == "PASSWORD_IS_EMAIL"


def test_a_password_that_only_contains_the_email_is_allowed(policy: PasswordPolicy) -> None:
    policy.check(f"{LOCAL_PART}!x", email=EMAIL)


def test_passwords_are_taken_exactly_as_given_without_trimming(policy: PasswordPolicy) -> None:
    # Eleven visible characters and one space: twelve code points, so long enough.
    policy.check(" k7#Vq9!mZ2w", email=EMAIL)
    policy.check("k7#Vq9!mZ2w ", email=EMAIL)


def test_the_minimum_follows_the_setting() -> None:
    strict = PasswordPolicy(min_length=15)

    assert rejection(strict, "k7#Vq9!mZ2wXabc"[:14]).reason == "PASSWORD_TOO_SHORT"
    strict.check("k7#Vq9!mZ2wXabc", email=EMAIL)


acceptable_passwords = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=12,
    max_size=128,
).filter(
    lambda p: (
        p.casefold() not in common_passwords()
        and p.casefold() not in {EMAIL.casefold(), LOCAL_PART.casefold()}
    )
)


@given(acceptable_passwords)
def test_any_other_password_of_twelve_to_128_code_points_is_accepted(password: str) -> None:
    PasswordPolicy(min_length=12).check(password, email=EMAIL)
