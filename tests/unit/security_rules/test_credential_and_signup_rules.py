"""One's own credentials and sign-ups: a wrong current password is throttled per account and
address, sign-ups per address (which only administrators and users:write services skip, and which
counts IPv6 per /64), email changes per user; an idempotency fingerprint covers the password
without holding an unkeyed hash of it."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

from server.domain import ClientInfo, Principal, User, UserChanges
from server.errors import AlreadyExists, DomainError, InvalidArgument, RateLimited
from tests.support.security_rule_actors import (
    CLIENT,
    EMAIL_CHANGES,
    GUESSES_PER_ACCOUNT_AND_IP,
    PASSWORD,
    SIGNUPS,
    admin,
    create,
    refusal,
    service,
    signed_in,
)
from tests.unit.services_in_memory import InMemoryServices

OTHER_CLIENT = ClientInfo(ip="192.0.2.2", user_agent="unit")
THIRD_CLIENT = ClientInfo(ip="192.0.2.3", user_agent="unit")
REQUEST_ID = "3f8a1c52-6a4e-4f0e-9c41-0d2b7e5a1b01"


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
    assert moved.email == "new@example.com"


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
