"""The rules of email verification, password reset and confirmed email changes
(services/email_verification.py, password_reset.py), on an in-memory unit of work."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from server.domain import ClientInfo, Principal, User, UserChanges
from server.errors import DomainError, FailedPrecondition, InvalidArgument
from server.services.maintenance import purge_expired
from tests.unit.services_in_memory import CODE_REQUESTS, CODE_TTL, InMemoryServices, last_code
from tests.unit.services_in_memory import services_in_memory as build

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different, longer passphrase"
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="unit")


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[InMemoryServices]:
    async with build(tmp_path) as built:
        yield built


async def sign_up(svc: InMemoryServices, email: str = "ada@example.com") -> User:
    return await svc.users.create_user(
        email=email,
        password=PASSWORD,
        display_name="Ada",
        role=None,
        request_id="",
        principal=None,
        client=CLIENT,
    )


async def signed_in(svc: InMemoryServices, email: str, password: str = PASSWORD) -> Principal:
    pair = await svc.auth.login(email, password, CLIENT)
    return await svc.auth.authenticate(pair.access_token)


async def refusal(call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    return caught.value


def events_of(svc: InMemoryServices, kind: str) -> list[str]:
    return [e.type for e in svc.units.state.events.values() if e.type == kind]


# -- verification -----------------------------------------------------------------------------


async def test_a_verification_code_verifies_the_email_once(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    principal = await signed_in(svc, "ada@example.com")
    await svc.verification.request_verification("me", principal)
    code = last_code(svc, "email.verification_requested")

    await svc.verification.verify_email(code)
    again = await refusal(svc.verification.verify_email(code))

    assert svc.units.state.users[ada.id].user.email_verified
    assert again.reason == "CODE_INVALID"
    assert events_of(svc, "user.email_verified") == ["user.email_verified"]
    already = await refusal(svc.verification.request_verification("me", principal))
    assert isinstance(already, FailedPrecondition)
    assert already.reason == "EMAIL_ALREADY_VERIFIED"


async def test_codes_are_stored_only_as_hashes_and_expire(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    await svc.verification.request_verification("me", await signed_in(svc, "ada@example.com"))
    code = last_code(svc, "email.verification_requested")
    [stored] = svc.units.state.codes.values()
    assert len(stored.code_hash) == 32  # an HMAC-SHA256 of the code, never the code
    assert code.encode() not in stored.code_hash

    svc.clock.advance(CODE_TTL)
    expired = await refusal(svc.verification.verify_email(code))
    assert expired.reason == "CODE_INVALID"
    assert not svc.units.state.users[ada.id].user.email_verified


async def test_verification_requests_are_throttled_per_user(svc: InMemoryServices) -> None:
    await sign_up(svc)
    principal = await signed_in(svc, "ada@example.com")
    for _ in range(CODE_REQUESTS):
        await svc.verification.request_verification("me", principal)
    throttled = await refusal(svc.verification.request_verification("me", principal))
    assert throttled.reason == "RATE_LIMITED"


async def test_another_user_may_not_ask_for_someones_verification(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    await sign_up(svc, "bob@example.com")
    bob = await signed_in(svc, "bob@example.com")
    refused = await refusal(svc.verification.request_verification(str(ada.id), bob))
    assert refused.reason == "NOT_ALLOWED"


@pytest.mark.parametrize("code", ["", "x" * 65])
async def test_an_empty_or_oversized_code_is_an_invalid_argument(
    svc: InMemoryServices, code: str
) -> None:
    assert isinstance(await refusal(svc.verification.verify_email(code)), InvalidArgument)
    assert isinstance(await refusal(svc.resets.reset(code, NEW_PASSWORD)), InvalidArgument)


async def test_login_refuses_an_unverified_user_only_after_the_password(tmp_path: Path) -> None:
    async with build(tmp_path, require_verified_email=True) as svc:
        await sign_up(svc)
        wrong = await refusal(svc.auth.login("ada@example.com", "not the password", CLIENT))
        right = await refusal(svc.auth.login("ada@example.com", PASSWORD, CLIENT))
        assert wrong.reason == "INVALID_CREDENTIALS"
        assert isinstance(right, FailedPrecondition)
        assert right.reason == "EMAIL_NOT_VERIFIED"


# -- confirmed email change -------------------------------------------------------------------


async def change_email(svc: InMemoryServices, principal: Principal, email: str) -> User:
    return await svc.users.update_user(
        "me", UserChanges(email=email), etag="", principal=principal, current_password=PASSWORD
    )


async def test_ones_own_new_email_takes_effect_only_with_its_code(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    principal = await signed_in(svc, "ada@example.com")

    asked = await change_email(svc, principal, "ada@new.example")
    assert asked.email == "ada@example.com"
    assert events_of(svc, "email.change_requested") == ["email.change_requested"]
    told = [e for e in svc.units.state.events.values() if e.type == "email.change_requested"]
    assert told[0].secret == {"email": "ada@example.com"}
    wrong = await refusal(svc.verification.verify_email("not-the-code"))
    assert wrong.reason == "CODE_INVALID"
    assert svc.units.state.users[ada.id].user.email == "ada@example.com"

    await svc.verification.verify_email(last_code(svc, "email.verification_requested"))
    moved = svc.units.state.users[ada.id]
    assert (moved.user.email, moved.user.email_verified, moved.pending_email) == (
        "ada@new.example",
        True,
        None,
    )


async def test_a_later_change_request_voids_the_earlier_code(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    principal = await signed_in(svc, "ada@example.com")
    await change_email(svc, principal, "first@new.example")
    first = last_code(svc, "email.verification_requested")
    await change_email(svc, principal, "second@new.example")

    assert (await refusal(svc.verification.verify_email(first))).reason == "CODE_INVALID"
    await svc.verification.verify_email(last_code(svc, "email.verification_requested"))
    assert svc.units.state.users[ada.id].user.email == "second@new.example"


async def test_an_address_taken_before_the_code_returns_is_refused(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    principal = await signed_in(svc, "ada@example.com")
    await sign_up(svc, "bob@example.com")
    taken = await refusal(change_email(svc, principal, "bob@example.com"))
    assert taken.reason == "EMAIL_TAKEN"  # at request time already
    await change_email(svc, principal, "wanted@example.com")
    code = last_code(svc, "email.verification_requested")
    await sign_up(svc, "wanted@example.com")

    refused = await refusal(svc.verification.verify_email(code))
    assert refused.reason == "EMAIL_TAKEN"
    assert svc.units.state.users[ada.id].user.email == "ada@example.com"


async def test_an_administrators_email_change_is_immediate(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    await svc.users.bootstrap_admin(email="root@example.com", password=PASSWORD, display_name="R")
    root = await signed_in(svc, "root@example.com")
    moved = await svc.users.update_user(
        str(ada.id), UserChanges(email="moved@example.com"), etag="", principal=root
    )
    assert (moved.email, moved.email_verified) == ("moved@example.com", False)


# -- password reset ---------------------------------------------------------------------------


async def test_a_reset_code_sets_the_password_once_and_ends_every_session(
    svc: InMemoryServices,
) -> None:
    await sign_up(svc)
    pair = await svc.auth.login("ada@example.com", PASSWORD, CLIENT)
    await svc.resets.request_by_email("Ada@Example.com", CLIENT)
    code = last_code(svc, "password.reset_requested")

    await svc.resets.reset(code, NEW_PASSWORD)
    again = await refusal(svc.resets.reset(code, "yet another long passphrase"))

    assert again.reason == "CODE_INVALID"
    assert (await refusal(svc.auth.authenticate(pair.access_token))).reason == "TOKEN_REVOKED"
    assert (await refusal(svc.auth.login("ada@example.com", PASSWORD, CLIENT))).reason == (
        "INVALID_CREDENTIALS"
    )
    await svc.auth.login("ada@example.com", NEW_PASSWORD, CLIENT)
    revoked = [e for e in svc.units.state.events.values() if e.type == "session.revoked"]
    assert [e.data["why"] for e in revoked] == ["password_reset"]
    assert events_of(svc, "password.reset") == ["password.reset"]


async def test_an_unknown_email_gets_the_same_answer_and_no_event(svc: InMemoryServices) -> None:
    await sign_up(svc)
    before = dict(svc.units.state.events)
    assert await svc.resets.request_by_email("nobody@example.com", CLIENT) is None
    assert svc.units.state.events == before
    assert svc.units.state.codes == {}


async def test_a_reset_code_expires_and_the_password_policy_applies(
    svc: InMemoryServices,
) -> None:
    await sign_up(svc)
    await svc.resets.request_by_email("ada@example.com", CLIENT)
    code = last_code(svc, "password.reset_requested")
    weak = await refusal(svc.resets.reset(code, "short"))
    assert weak.reason == "PASSWORD_TOO_SHORT"
    svc.clock.advance(CODE_TTL + dt.timedelta(seconds=1))
    assert (await refusal(svc.resets.reset(code, NEW_PASSWORD))).reason == "CODE_INVALID"
    await svc.auth.login("ada@example.com", PASSWORD, CLIENT)


async def test_reset_requests_are_throttled_per_email_known_or_not(svc: InMemoryServices) -> None:
    await sign_up(svc)
    for email in ("ada@example.com", "nobody@example.com"):
        for _ in range(CODE_REQUESTS):
            await svc.resets.request_by_email(email, CLIENT)
        throttled = await refusal(svc.resets.request_by_email(email, CLIENT))
        assert throttled.reason == "RATE_LIMITED"


async def test_only_an_administrator_requests_a_reset_by_user_id(svc: InMemoryServices) -> None:
    ada = await sign_up(svc)
    principal = await signed_in(svc, "ada@example.com")
    refused = await refusal(svc.resets.request_for_user(str(ada.id), principal))
    assert refused.reason == "ADMIN_REQUIRED"
    await svc.users.bootstrap_admin(email="root@example.com", password=PASSWORD, display_name="R")
    await svc.resets.request_for_user(str(ada.id), await signed_in(svc, "root@example.com"))
    await svc.resets.reset(last_code(svc, "password.reset_requested"), NEW_PASSWORD)
    await svc.auth.login("ada@example.com", NEW_PASSWORD, CLIENT)


async def test_the_purge_deletes_expired_codes_only(svc: InMemoryServices) -> None:
    await sign_up(svc)
    await svc.resets.request_by_email("ada@example.com", CLIENT)
    svc.clock.advance(CODE_TTL + dt.timedelta(seconds=1))
    await svc.resets.request_by_email("ada@example.com", CLIENT)
    fresh = last_code(svc, "password.reset_requested")

    purged = await purge_expired(svc.units, svc.clock(), batch_size=10)

    assert purged["one_time_codes"] == 1
    await svc.resets.reset(fresh, NEW_PASSWORD)
