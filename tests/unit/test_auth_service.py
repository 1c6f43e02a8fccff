"""The rules of services/auth.py, on an in-memory unit of work (milliseconds per test)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import argon2
import pytest

from server.domain import (
    ClientInfo,
    Principal,
    Role,
    StoredUser,
    TokenPair,
    UserChanges,
    UserState,
)
from server.errors import DomainError, InvalidArgument, Unauthenticated, Unavailable
from server.security.tokens import refresh_token_hash
from tests.unit.services_in_memory import LOGIN_FAILURES, REFRESH_TTL, REUSE_GRACE, InMemoryServices
from tests.unit.services_in_memory import services_in_memory as build

PASSWORD = "correct horse battery staple"
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="unit")
EMAIL = "ada@example.com"


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[InMemoryServices]:
    async with build(tmp_path) as built:
        yield built


async def sign_up(svc: InMemoryServices, email: str = "ada@example.com") -> None:
    await svc.users.create_user(
        email=email,
        password=PASSWORD,
        display_name="Ada",
        role=None,
        request_id="",
        principal=None,
        client=CLIENT,
    )


async def signed_in(svc: InMemoryServices, email: str) -> tuple[TokenPair, Principal]:
    pair = await svc.auth.login(email, PASSWORD, CLIENT)
    return pair, await svc.auth.authenticate(pair.access_token)


async def refusal(call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    return caught.value


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(
    svc: InMemoryServices,
) -> None:
    await sign_up(svc)
    unknown = await refusal(svc.auth.login("nobody@example.com", PASSWORD, CLIENT))
    wrong = await refusal(svc.auth.login("ada@example.com", "not the password", CLIENT))
    assert isinstance(unknown, Unauthenticated)
    assert isinstance(wrong, Unauthenticated)
    assert (unknown.reason, unknown.message) == (wrong.reason, wrong.message)
    assert unknown.reason == "INVALID_CREDENTIALS"


async def test_a_disabled_user_cannot_log_in(svc: InMemoryServices) -> None:
    await svc.users.bootstrap_admin(email="root@example.com", password=PASSWORD, display_name="R")
    await sign_up(svc)
    _, admin = await signed_in(svc, "root@example.com")
    stored = await _stored(svc, "ada@example.com")
    await svc.users.update_user(
        str(stored.user.id), UserChanges(state=UserState.DISABLED), etag="", principal=admin
    )
    failure = await refusal(svc.auth.login("ada@example.com", PASSWORD, CLIENT))
    assert isinstance(failure, Unauthenticated)
    assert failure.reason == "USER_DISABLED"


async def test_login_rehashes_a_password_hashed_with_other_parameters(
    svc: InMemoryServices,
) -> None:
    old_hash = argon2.PasswordHasher(time_cost=2, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with svc.units.transaction() as uow:
        await uow.users.add(
            email="old@example.com",
            password_hash=old_hash,
            display_name="Old",
            role=Role.USER,
            now=svc.clock(),
        )
    assert svc.hasher.needs_rehash(old_hash)

    await svc.auth.login("old@example.com", PASSWORD, CLIENT)

    new_hash = (await _stored(svc, "old@example.com")).password_hash
    assert new_hash != old_hash
    assert not svc.hasher.needs_rehash(new_hash)
    assert await svc.auth.login("old@example.com", PASSWORD, CLIENT)


async def test_refresh_rotates_the_token_and_keeps_the_session(svc: InMemoryServices) -> None:
    await sign_up(svc)
    first, _ = await signed_in(svc, "ada@example.com")
    second = await svc.auth.refresh(first.refresh_token)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    tokens = svc.units.state.refresh_tokens
    assert tokens[refresh_token_hash(first.refresh_token)].rotated_at == svc.clock()
    assert tokens[refresh_token_hash(second.refresh_token)].rotated_at is None
    assert (await svc.auth.authenticate(second.access_token)).session_id == first.session_id


async def test_refresh_token_reuse_revokes_the_session(svc: InMemoryServices) -> None:
    await sign_up(svc)
    first, _ = await signed_in(svc, "ada@example.com")
    second = await svc.auth.refresh(first.refresh_token)
    svc.clock.advance(REUSE_GRACE + dt.timedelta(seconds=1))

    reused = await refusal(svc.auth.refresh(first.refresh_token))

    assert reused.reason == "REFRESH_TOKEN_REUSED"
    assert first.session_id is not None
    assert svc.units.state.sessions[first.session_id].revoked_at == svc.clock()
    assert svc.units.state.revoke_reasons[first.session_id] == "refresh_token_reused"
    # The rightful holder's newer tokens die with the session.
    assert (await refusal(svc.auth.refresh(second.refresh_token))).reason == "TOKEN_REVOKED"
    assert (await refusal(svc.auth.authenticate(second.access_token))).reason == "TOKEN_REVOKED"


async def test_the_previous_token_is_honoured_within_the_grace_window_only(
    svc: InMemoryServices,
) -> None:
    await sign_up(svc)
    first, _ = await signed_in(svc, "ada@example.com")
    second = await svc.auth.refresh(first.refresh_token)
    svc.clock.advance(REUSE_GRACE - dt.timedelta(seconds=1))

    # A client that lost the answer to its refresh retries with the same token: it gets the
    # same successor (one chain), with a fresh access token.
    retried = await svc.auth.refresh(first.refresh_token)
    assert retried.session_id == first.session_id
    assert retried.refresh_token == second.refresh_token

    # Once the successor itself is rotated, the first token is no longer the one just replaced.
    await svc.auth.refresh(second.refresh_token)
    assert (await refusal(svc.auth.refresh(first.refresh_token))).reason == ("REFRESH_TOKEN_REUSED")


async def test_after_the_grace_window_the_previous_token_is_reuse(svc: InMemoryServices) -> None:
    await sign_up(svc)
    first, _ = await signed_in(svc, "ada@example.com")
    await svc.auth.refresh(first.refresh_token)
    svc.clock.advance(REUSE_GRACE + dt.timedelta(seconds=1))
    assert (await refusal(svc.auth.refresh(first.refresh_token))).reason == ("REFRESH_TOKEN_REUSED")


async def test_an_expired_session_cannot_be_refreshed(svc: InMemoryServices) -> None:
    await sign_up(svc)
    first, _ = await signed_in(svc, "ada@example.com")
    svc.clock.advance(REFRESH_TTL)
    assert (await refusal(svc.auth.refresh(first.refresh_token))).reason == (
        "REFRESH_TOKEN_EXPIRED"
    )


async def test_an_unknown_refresh_token_is_invalid(svc: InMemoryServices) -> None:
    assert (await refusal(svc.auth.refresh("never-issued"))).reason == "REFRESH_TOKEN_INVALID"


async def test_logout_ends_the_session_for_access_and_refresh(svc: InMemoryServices) -> None:
    await sign_up(svc)
    pair, principal = await signed_in(svc, "ada@example.com")

    await svc.auth.logout(principal, pair.refresh_token)

    assert (await refusal(svc.auth.authenticate(pair.access_token))).reason == "TOKEN_REVOKED"
    assert (await refusal(svc.auth.refresh(pair.refresh_token))).reason == "TOKEN_REVOKED"
    assert pair.session_id is not None
    assert svc.units.state.revoke_reasons[pair.session_id] == "logout"


async def test_logout_refuses_a_refresh_token_of_another_session(svc: InMemoryServices) -> None:
    await sign_up(svc)
    mine, principal = await signed_in(svc, "ada@example.com")
    other, _ = await signed_in(svc, "ada@example.com")

    failure = await refusal(svc.auth.logout(principal, other.refresh_token))

    assert isinstance(failure, InvalidArgument)
    assert failure.violations[0].field == "refresh_token"
    # Nothing was revoked: both sessions still refresh.
    assert await svc.auth.refresh(mine.refresh_token)
    assert await svc.auth.refresh(other.refresh_token)


async def _stored(svc: InMemoryServices, email: str) -> StoredUser:
    async with svc.units.read() as uow:
        stored = await uow.users.get_by_email(email)
    assert stored is not None
    return stored


async def test_logins_the_database_could_not_answer_spend_no_throttle_slot(
    svc: InMemoryServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retries during a database outage must not lock the owner out once it ends."""
    await sign_up(svc)

    class Down:
        async def __aenter__(self) -> None:
            raise Unavailable("the database is unavailable")

        async def __aexit__(self, *exc: object) -> None:
            return None

    with monkeypatch.context() as outage:
        outage.setattr(svc.units, "read", Down)
        for _ in range(3 * LOGIN_FAILURES):
            assert isinstance(await refusal(svc.auth.login(EMAIL, PASSWORD, CLIENT)), Unavailable)

    await svc.auth.login(EMAIL, PASSWORD, CLIENT)  # not RATE_LIMITED
