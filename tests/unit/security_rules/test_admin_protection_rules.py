"""Acting on others: only administrators act on administrators (a users:write or sessions:revoke
service may not), and another user's session is answered as a random id."""

from __future__ import annotations

import uuid

from server.domain import Role, UserChanges, UserState
from server.errors import NotFound, PermissionDenied
from server.services.sessions import SessionService
from tests.support.security_rule_actors import admin, create, refusal, service, signed_in
from tests.unit.services_in_memory import InMemoryServices

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


async def test_a_sessions_revoke_service_may_not_list_or_sign_out_an_administrators_sessions(
    svc: InMemoryServices,
) -> None:
    root = await admin(svc)
    revoker = await service(svc, "sessions:revoke")
    sessions = sessions_of(svc)
    one = await refusal(sessions.revoke_session(str(root.session_id), principal=revoker))
    every = await refusal(sessions.revoke_all_sessions(str(root.user_id), principal=revoker))
    listed = await refusal(
        sessions.list_sessions(str(root.user_id), size=10, token="", principal=revoker)
    )
    refusals = (one, every, listed)
    assert {(type(r), r.reason) for r in refusals} == {(PermissionDenied, "ADMIN_REQUIRED")}

    # A user's sessions are still the service's to list and end.
    await create(svc, "ada@example.com")
    ada = await signed_in(svc, "ada@example.com")
    assert ada.user_id is not None
    page, _ = await sessions.list_sessions(str(ada.user_id), size=10, token="", principal=revoker)
    assert [session.id for session in page] == [ada.session_id]
