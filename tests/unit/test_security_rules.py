"""The security rules of the user, session and service-account services, on an in-memory unit of
work: throttles reserve before verifying, only failures of a client secret are throttled, only
administrators act on administrators, idempotency fingerprints cover the password."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from server.cache.rate_limit import Limit
from server.domain import (
    ClientInfo,
    Principal,
    Role,
    ServiceAccountChanges,
    User,
    UserChanges,
    UserState,
)
from server.errors import (
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from server.services.limits import Limits
from server.services.sessions import SessionService
from tests.unit.services_in_memory import InMemoryServices, services_in_memory

PASSWORD = "correct horse battery staple"
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="unit")
OTHER_CLIENT = ClientInfo(ip="192.0.2.2", user_agent="unit")
THIRD_CLIENT = ClientInfo(ip="192.0.2.3", user_agent="unit")
GUESSES_PER_ACCOUNT_AND_IP = 4
EMAIL_CHANGES = 3
SIGNUPS = 2
SERVICE_FAILURES = 3
REQUEST_ID = "3f8a1c52-6a4e-4f0e-9c41-0d2b7e5a1b01"


def small_limits() -> Limits:
    return Limits(
        login_account=Limit("login_account", 100, 900),
        login_ip=Limit("login_ip", 1000, 900),
        signup_ip=Limit("signup_ip", SIGNUPS, 3600),
        service_client=Limit("service_client", SERVICE_FAILURES, 900),
        login_account_ip=Limit("login_account_ip", GUESSES_PER_ACCOUNT_AND_IP, 900),
        email_change=Limit("email_change", EMAIL_CHANGES, 3600),
        verification_user=Limit("verification_user", 3, 3600),
        reset_email=Limit("reset_email", 3, 3600),
        reset_ip=Limit("reset_ip", 100, 3600),
    )


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[InMemoryServices]:
    async with services_in_memory(tmp_path, limits_used=small_limits()) as built:
        yield built


async def refusal(call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    return caught.value


async def create(
    svc: InMemoryServices,
    email: str,
    *,
    password: str = PASSWORD,
    request_id: str = "",
    principal: Principal | None = None,
    client: ClientInfo = CLIENT,
) -> User:
    return await svc.users.create_user(
        email=email,
        password=password,
        display_name="Ada",
        role=None,
        request_id=request_id,
        principal=principal,
        client=client,
    )


async def signed_in(svc: InMemoryServices, email: str) -> Principal:
    pair = await svc.auth.login(email, PASSWORD, CLIENT)
    return await svc.auth.authenticate(pair.access_token)


async def admin(svc: InMemoryServices, email: str = "root@example.com") -> Principal:
    await svc.users.bootstrap_admin(email=email, password=PASSWORD, display_name="Root")
    return await signed_in(svc, email)


async def service(svc: InMemoryServices, *scopes: str) -> Principal:
    issued = await svc.service_accounts.create_service_account(
        display_name="Robot", scopes=list(scopes)
    )
    pair = await svc.service_accounts.issue_service_token(
        issued.account.client_id, issued.client_secret, (), CLIENT
    )
    return await svc.auth.authenticate(pair.access_token)


# -- ChangePassword ---------------------------------------------------------------------------


async def test_concurrent_wrong_current_passwords_get_at_most_the_limit_verified(
    svc: InMemoryServices,
) -> None:
    await create(svc, "ada@example.com")
    principal = await signed_in(svc, "ada@example.com")
    attempts = [
        svc.users.change_password(
            f"wrong guess {n}", "a different passphrase", principal=principal, client=CLIENT
        )
        for n in range(20)
    ]
    answers = await asyncio.gather(*attempts, return_exceptions=True)
    reasons = [a.reason for a in answers if isinstance(a, DomainError)]
    assert len(reasons) == 20
    assert reasons.count("INVALID_CREDENTIALS") == GUESSES_PER_ACCOUNT_AND_IP
    assert reasons.count("RATE_LIMITED") == 20 - GUESSES_PER_ACCOUNT_AND_IP


async def test_a_correct_current_password_resets_the_account_counters(
    svc: InMemoryServices,
) -> None:
    await create(svc, "ada@example.com")
    principal = await signed_in(svc, "ada@example.com")
    for _ in range(GUESSES_PER_ACCOUNT_AND_IP - 1):
        await refusal(
            svc.users.change_password(
                "wrong", "a new passphrase", principal=principal, client=CLIENT
            )
        )
    await svc.users.change_password(
        PASSWORD, "a different passphrase", principal=principal, client=CLIENT
    )
    # Without the reset, the second of these would be over the limit.
    for _ in range(GUESSES_PER_ACCOUNT_AND_IP):
        failure = await refusal(
            svc.users.change_password(
                "wrong", "a new passphrase", principal=principal, client=CLIENT
            )
        )
        assert failure.reason == "INVALID_CREDENTIALS"


# -- sign-ups ---------------------------------------------------------------------------------


async def test_an_ordinary_users_token_does_not_skip_the_signup_limit(
    svc: InMemoryServices,
) -> None:
    await create(svc, "ada@example.com")
    user = await signed_in(svc, "ada@example.com")
    await create(svc, "bob@example.com", principal=user)
    limited = await refusal(create(svc, "cy@example.com", principal=user))
    assert isinstance(limited, RateLimited)


async def test_administrators_and_users_write_services_are_exempt_from_the_signup_limit(
    svc: InMemoryServices,
) -> None:
    root = await admin(svc)
    writer = await service(svc, "users:write")
    for n in range(SIGNUPS + 2):
        await create(svc, f"by-admin-{n}@example.com", principal=root)
        await create(svc, f"by-service-{n}@example.com", principal=writer)


async def test_ipv6_sign_ups_are_counted_per_64(svc: InMemoryServices) -> None:
    for n in range(SIGNUPS):
        await create(svc, f"v6-{n}@example.com", client=ClientInfo(f"2001:db8::{n + 1}", "u"))
    neighbour = ClientInfo("2001:db8::ffff:1", "unit")
    assert isinstance(await refusal(create(svc, "x@example.com", client=neighbour)), RateLimited)


# -- idempotency ------------------------------------------------------------------------------


async def test_a_request_id_replayed_with_another_password_is_refused(
    svc: InMemoryServices,
) -> None:
    # Each from its own address: a replay counts against the sign-up limit too.
    first = await create(svc, "ada@example.com", request_id=REQUEST_ID, client=CLIENT)
    again = await create(svc, "ada@example.com", request_id=REQUEST_ID, client=OTHER_CLIENT)
    other = await refusal(
        create(
            svc,
            "ada@example.com",
            password="another long passphrase",
            request_id=REQUEST_ID,
            client=THIRD_CLIENT,
        )
    )
    assert again == first
    assert isinstance(other, AlreadyExists)
    assert other.reason == "REQUEST_ID_REUSED"


async def test_a_record_fingerprinted_before_the_password_was_covered_is_reused_not_a_crash(
    svc: InMemoryServices,
) -> None:
    await create(svc, "ada@example.com", request_id=REQUEST_ID)
    key = ("CreateUser", "anonymous", REQUEST_ID)
    legacy = hashlib.sha256("\x00".join(["ada@example.com", "Ada", "user"]).encode()).digest()
    record = svc.units.state.idempotency[key]
    svc.units.state.idempotency[key] = dataclasses.replace(record, request_hash=legacy)

    failure = await refusal(create(svc, "ada@example.com", request_id=REQUEST_ID))

    assert (type(failure), failure.reason) == (AlreadyExists, "REQUEST_ID_REUSED")


async def test_the_fingerprint_holds_no_unkeyed_hash_of_the_password(
    svc: InMemoryServices,
) -> None:
    await create(svc, "ada@example.com", request_id=REQUEST_ID)
    (record,) = svc.units.state.idempotency.values()
    assert hashlib.sha256(PASSWORD.encode()).digest() != record.request_hash
    assert PASSWORD.encode() not in record.request_hash + record.response


# -- email changes ----------------------------------------------------------------------------


async def change_email(
    svc: InMemoryServices, principal: Principal, email: str, password: str, ref: str = "me"
) -> User:
    return await svc.users.update_user(
        ref, UserChanges(email=email), etag="", principal=principal, current_password=password
    )


async def test_changing_ones_own_email_needs_the_right_current_password(
    svc: InMemoryServices,
) -> None:
    ada = await create(svc, "ada@example.com")
    principal = await signed_in(svc, "ada@example.com")

    missing = await refusal(change_email(svc, principal, "new@example.com", ""))
    wrong = await refusal(change_email(svc, principal, "new@example.com", "not my password"))
    assert svc.units.state.users[ada.id].user == ada
    moved = await change_email(svc, principal, "new@example.com", PASSWORD)

    assert isinstance(missing, InvalidArgument)
    assert [v.field for v in missing.violations] == ["current_password"]
    assert isinstance(wrong, InvalidArgument)
    assert wrong.reason == "INVALID_CREDENTIALS"
    assert [v.field for v in wrong.violations] == ["current_password"]
    assert moved.email == "ada@example.com"  # pending until VerifyEmail gets the code
    assert svc.units.state.users[ada.id].pending_email == "new@example.com"


async def test_email_changes_are_throttled_per_user_before_anything_is_checked(
    svc: InMemoryServices,
) -> None:
    await create(svc, "taken@example.com")
    await create(svc, "ada@example.com")
    principal = await signed_in(svc, "ada@example.com")
    probes = [change_email(svc, principal, "taken@example.com", PASSWORD) for _ in range(10)]
    answers = await asyncio.gather(*probes, return_exceptions=True)
    reasons = [a.reason if isinstance(a, DomainError) else "OK" for a in answers]
    assert reasons == ["EMAIL_TAKEN"] * EMAIL_CHANGES + ["RATE_LIMITED"] * (10 - EMAIL_CHANGES)


async def test_an_administrator_changes_another_users_email_without_a_password(
    svc: InMemoryServices,
) -> None:
    ada = await create(svc, "ada@example.com")
    root = await admin(svc)
    moved = await change_email(svc, root, "moved@example.com", "", ref=str(ada.id))
    own = await refusal(change_email(svc, root, "root2@example.com", ""))
    assert moved.email == "moved@example.com"
    assert isinstance(own, InvalidArgument)
    assert [v.field for v in own.violations] == ["current_password"]


# -- only administrators act on administrators ------------------------------------------------


async def test_a_users_write_service_may_not_act_on_an_administrator(
    svc: InMemoryServices,
) -> None:
    root = await admin(svc)
    assert root.user_id is not None
    ada = await create(svc, "ada@example.com")
    writer = await service(svc, "users:write")
    target = str(root.user_id)

    refusals = [
        await refusal(
            svc.users.update_user(target, changes, etag="", principal=writer, current_password="")
        )
        for changes in (
            UserChanges(display_name="Owned"),
            UserChanges(state=UserState.DISABLED),
            UserChanges(email="evil@example.com"),
        )
    ]
    refusals.append(await refusal(svc.users.delete_user(target, etag="", principal=writer)))

    assert {(type(r), r.reason) for r in refusals} == {(PermissionDenied, "ADMIN_REQUIRED")}
    assert svc.units.state.users[root.user_id].user.role is Role.ADMIN
    assert svc.units.state.users[root.user_id].user.state is UserState.ACTIVE
    disabled = await svc.users.update_user(
        str(ada.id), UserChanges(state=UserState.DISABLED), etag="", principal=writer
    )
    assert disabled.state is UserState.DISABLED


# -- sessions ---------------------------------------------------------------------------------


def sessions_of(svc: InMemoryServices) -> SessionService:
    return SessionService(
        units=svc.units, revocations=svc.revocations, page_tokens=svc.page_tokens, clock=svc.clock
    )


async def test_revoking_another_users_session_is_answered_as_a_random_id(
    svc: InMemoryServices,
) -> None:
    await create(svc, "ada@example.com")
    await create(svc, "bob@example.com")
    ada, bob = await signed_in(svc, "ada@example.com"), await signed_in(svc, "bob@example.com")
    sessions = sessions_of(svc)

    other = await refusal(sessions.revoke_session(str(ada.session_id), principal=bob))
    random = await refusal(sessions.revoke_session(str(uuid.uuid4()), principal=bob))

    assert isinstance(other, NotFound)
    assert (type(other), other.reason, other.message) == (
        type(random),
        random.reason,
        random.message,
    )


async def test_a_sessions_revoke_service_may_not_sign_out_an_administrator(
    svc: InMemoryServices,
) -> None:
    root = await admin(svc)
    revoker = await service(svc, "sessions:revoke")
    sessions = sessions_of(svc)
    one = await refusal(sessions.revoke_session(str(root.session_id), principal=revoker))
    every = await refusal(sessions.revoke_all_sessions(str(root.user_id), principal=revoker))
    assert {(type(r), r.reason) for r in (one, every)} == {(PermissionDenied, "ADMIN_REQUIRED")}


# -- service accounts -------------------------------------------------------------------------


async def test_a_correct_client_secret_gets_its_token_after_many_failures(
    svc: InMemoryServices,
) -> None:
    issued = await svc.service_accounts.create_service_account(
        display_name="Billing", scopes=["users:read"]
    )
    client_id = issued.account.client_id
    failures = [
        await refusal(svc.service_accounts.issue_service_token(client_id, "wrong", (), CLIENT))
        for _ in range(SERVICE_FAILURES + 5)
    ]
    unknown = [
        await refusal(svc.service_accounts.issue_service_token("svc_nobody", "x", (), CLIENT))
        for _ in range(SERVICE_FAILURES + 1)
    ]

    pair = await svc.service_accounts.issue_service_token(
        client_id, issued.client_secret, (), CLIENT
    )

    expected = ["INVALID_CREDENTIALS"] * SERVICE_FAILURES + ["RATE_LIMITED"] * 5
    assert [f.reason for f in failures] == expected
    assert [f.reason for f in unknown] == expected[: SERVICE_FAILURES + 1]
    assert pair.access_token


@pytest.mark.parametrize("where", ["create", "update", "issue"])
async def test_ten_thousand_scopes_are_refused_with_a_short_message(
    svc: InMemoryServices, where: str
) -> None:
    issued = await svc.service_accounts.create_service_account(
        display_name="Billing", scopes=["users:read"]
    )
    scopes = [f"scope-{n}-{'x' * 50}" for n in range(10_000)]
    calls = {
        "create": lambda: svc.service_accounts.create_service_account(
            display_name="B", scopes=scopes
        ),
        "update": lambda: svc.service_accounts.update_service_account(
            str(issued.account.id), ServiceAccountChanges(scopes=scopes), etag=""
        ),
        "issue": lambda: svc.service_accounts.issue_service_token(
            issued.account.client_id, issued.client_secret, scopes, CLIENT
        ),
    }
    failure = await refusal(calls[where]())
    assert isinstance(failure, InvalidArgument)
    assert len(failure.message) < 200


async def test_unknown_scopes_are_named_a_few_at_most(svc: InMemoryServices) -> None:
    scopes = [f"nope-{n}-{'y' * 100}" for n in range(30)]
    failure = await refusal(
        svc.service_accounts.create_service_account(display_name="B", scopes=scopes)
    )
    assert isinstance(failure, InvalidArgument)
    assert failure.message.count("nope-") == 3
    assert "and 27 more" in failure.message
    assert len(failure.message) < 400
