"""The rules of services/users.py, on an in-memory unit of work (milliseconds per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from server.domain import ClientInfo, Principal, Role, TokenPair, User, UserChanges, UserState
from server.errors import Aborted, AlreadyExists, DomainError, InvalidArgument, PermissionDenied
from tests.unit.services_in_memory import InMemoryServices, last_code
from tests.unit.services_in_memory import services_in_memory as build

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different, longer passphrase"
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="unit")
REQUEST_1 = "3f8a1c52-6a4e-4f0e-9c41-0d2b7e5a1b01"
REQUEST_2 = "3f8a1c52-6a4e-4f0e-9c41-0d2b7e5a1b02"


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[InMemoryServices]:
    async with build(tmp_path) as built:
        yield built


async def create(
    svc: InMemoryServices, email: str, *, request_id: str = "", name: str = "Ada"
) -> User:
    return await svc.users.create_user(
        email=email,
        password=PASSWORD,
        display_name=name,
        role=None,
        request_id=request_id,
        principal=None,
        client=CLIENT,
    )


async def signed_in(
    svc: InMemoryServices, email: str, password: str = PASSWORD
) -> tuple[TokenPair, Principal]:
    pair = await svc.auth.login(email, password, CLIENT)
    return pair, await svc.auth.authenticate(pair.access_token)


async def admin(svc: InMemoryServices) -> Principal:
    await svc.users.bootstrap_admin(email="root@example.com", password=PASSWORD, display_name="R")
    return (await signed_in(svc, "root@example.com"))[1]


async def refusal(call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    return caught.value


# -- creation -------------------------------------------------------------------------------


async def test_a_repeated_request_id_replays_the_first_answer(svc: InMemoryServices) -> None:
    first = await create(svc, "ada@example.com", request_id=REQUEST_1)
    again = await create(svc, "ada@example.com", request_id=REQUEST_1)
    assert again == first
    assert len(svc.units.state.users) == 1


async def test_a_request_id_reused_for_another_request_is_refused(svc: InMemoryServices) -> None:
    await create(svc, "ada@example.com", request_id=REQUEST_1)
    failure = await refusal(create(svc, "bob@example.com", request_id=REQUEST_1))
    assert isinstance(failure, AlreadyExists)
    assert failure.reason == "REQUEST_ID_REUSED"
    assert len(svc.units.state.users) == 1


async def test_a_taken_email_is_refused_and_nothing_is_recorded(svc: InMemoryServices) -> None:
    await create(svc, "ada@example.com")
    failure = await refusal(create(svc, "ADA@example.com", request_id=REQUEST_2))
    assert isinstance(failure, AlreadyExists)
    assert failure.reason == "EMAIL_TAKEN"
    # The transaction rolled back: no answer was recorded for REQUEST_2.
    assert svc.units.state.idempotency == {}


# -- reads ----------------------------------------------------------------------------------


async def test_a_user_may_read_itself_but_not_another(svc: InMemoryServices) -> None:
    ada = await create(svc, "ada@example.com")
    bob = await create(svc, "bob@example.com")
    _, principal = await signed_in(svc, "ada@example.com")

    assert await svc.users.get_user("me", principal) == ada
    failure = await refusal(svc.users.get_user(str(bob.id), principal))
    assert isinstance(failure, PermissionDenied)
    assert failure.reason == "NOT_ALLOWED"
    assert await svc.users.get_user(str(bob.id), await admin(svc)) == bob


async def test_listing_pages_in_email_order_under_a_prefix_and_in_id_order_else(
    svc: InMemoryServices,
) -> None:
    made = [await create(svc, f"{name}@example.com") for name in ("carl", "ann", "bea", "al")]
    root = await admin(svc)

    async def every_page(filter_text: str) -> list[str]:
        emails, token = [], ""
        while True:
            users, token = await svc.users.list_users(
                size=1, token=token, filter_text=filter_text, principal=root
            )
            emails += [u.email for u in users]
            if not token:
                return emails

    assert await every_page('email = "a*"') == ["al@example.com", "ann@example.com"]
    by_id = sorted([*made, await svc.users.get_user("me", root)], key=lambda u: u.id)
    assert await every_page("") == [u.email for u in by_id]


# -- changes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes", [UserChanges(role=Role.ADMIN), UserChanges(state=UserState.DISABLED)]
)
async def test_only_an_administrator_may_change_role_or_state(
    svc: InMemoryServices, changes: UserChanges
) -> None:
    await create(svc, "ada@example.com")
    _, principal = await signed_in(svc, "ada@example.com")
    failure = await refusal(svc.users.update_user("me", changes, etag="", principal=principal))
    assert isinstance(failure, PermissionDenied)
    assert failure.reason == "FIELD_NOT_ALLOWED"


async def test_a_role_change_ends_the_users_sessions(svc: InMemoryServices) -> None:
    ada = await create(svc, "ada@example.com")
    pair, _ = await signed_in(svc, "ada@example.com")
    changed = await svc.users.update_user(
        str(ada.id), UserChanges(role=Role.ADMIN), etag=ada.etag, principal=await admin(svc)
    )
    assert changed.role is Role.ADMIN
    assert changed.version == ada.version + 1
    assert (await refusal(svc.auth.authenticate(pair.access_token))).reason == "TOKEN_REVOKED"


async def test_a_stale_etag_is_aborted_and_changes_nothing(svc: InMemoryServices) -> None:
    ada = await create(svc, "ada@example.com")
    _, principal = await signed_in(svc, "ada@example.com")
    renamed = await svc.users.update_user(
        "me", UserChanges(display_name="Ada L."), etag=ada.etag, principal=principal
    )
    failure = await refusal(
        svc.users.update_user(
            "me", UserChanges(display_name="X"), etag=ada.etag, principal=principal
        )
    )
    assert isinstance(failure, Aborted)
    assert failure.reason == "ETAG_MISMATCH"
    assert svc.units.state.users[ada.id].user == renamed


async def test_a_new_email_is_unverified_and_a_taken_one_is_refused(svc: InMemoryServices) -> None:
    await create(svc, "bob@example.com")
    await create(svc, "ada@example.com")
    _, principal = await signed_in(svc, "ada@example.com")

    taken = await refusal(
        svc.users.update_user(
            "me",
            UserChanges(email="bob@example.com"),
            etag="",
            principal=principal,
            current_password=PASSWORD,
        )
    )
    assert taken.reason == "EMAIL_TAKEN"
    asked = await svc.users.update_user(
        "me",
        UserChanges(email="Ada@Elsewhere.example"),
        etag="",
        principal=principal,
        current_password=PASSWORD,
    )
    assert asked.email == "ada@example.com"  # pending until its code comes back
    await svc.verification.verify_email(last_code(svc, "email.verification_requested"))
    moved = svc.units.state.users[asked.id].user
    assert (moved.email, moved.email_verified) == ("ada@elsewhere.example", True)


async def test_deleting_a_user_revokes_its_sessions(svc: InMemoryServices) -> None:
    ada = await create(svc, "ada@example.com")
    pair, principal = await signed_in(svc, "ada@example.com")

    await svc.users.delete_user("me", etag=ada.etag, principal=principal)

    assert ada.id not in svc.units.state.users
    assert (await refusal(svc.auth.authenticate(pair.access_token))).reason == "TOKEN_REVOKED"
    assert pair.session_id is not None
    assert svc.units.state.revoke_reasons[pair.session_id] == "user_deleted"


async def test_changing_the_password_ends_the_other_sessions_only(svc: InMemoryServices) -> None:
    await create(svc, "ada@example.com")
    here, principal = await signed_in(svc, "ada@example.com")
    elsewhere, _ = await signed_in(svc, "ada@example.com")

    await svc.users.change_password(PASSWORD, NEW_PASSWORD, principal=principal, client=CLIENT)

    assert await svc.auth.authenticate(here.access_token) == principal
    assert (await refusal(svc.auth.authenticate(elsewhere.access_token))).reason == (
        "TOKEN_REVOKED"
    )
    assert (await refusal(svc.auth.login("ada@example.com", PASSWORD, CLIENT))).reason == (
        "INVALID_CREDENTIALS"
    )
    assert await signed_in(svc, "ada@example.com", NEW_PASSWORD)


async def test_a_wrong_current_password_changes_nothing(svc: InMemoryServices) -> None:
    ada = await create(svc, "ada@example.com")
    _, principal = await signed_in(svc, "ada@example.com")
    failure = await refusal(
        svc.users.change_password("wrong", NEW_PASSWORD, principal=principal, client=CLIENT)
    )
    assert isinstance(failure, InvalidArgument)
    assert failure.reason == "INVALID_CREDENTIALS"
    assert svc.units.state.users[ada.id].user == ada
