"""ListSessions, RevokeSession and RevokeAllSessions: what a user sees of its sessions, who may
end them, and that an ended session's tokens are refused at once, on every replica.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.backends import Backend
from tests.support.flows import (
    Caller,
    auth,
    bearer,
    first_refusal,
    get_me,
    login,
    refresh,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
)
from tests.support.rich_errors import RichError
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2

USER_AGENT = "test-agent/1.0"
LOOPBACK = "127.0.0.1"
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
REVOCATION_DEADLINE_SECONDS = 1.0


@pytest.fixture
async def agent_channel(app: Application) -> AsyncIterator[grpc.aio.Channel]:
    """A second client of the same server that names itself in the user-agent header."""
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{app.port}", options=[("grpc.primary_user_agent", USER_AGENT)]
    ) as channel:
        yield channel


async def list_sessions(
    channel: grpc.aio.Channel, access_token: str, user_id: str = "me", **fields: object
) -> auth_pb2.ListSessionsResponse:
    return await auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id=user_id, **fields),  # type: ignore[arg-type]
        metadata=bearer(access_token),
    )


async def revoke_session(channel: grpc.aio.Channel, access_token: str, session_id: str) -> None:
    await auth(channel).RevokeSession(
        auth_pb2.RevokeSessionRequest(session_id=session_id), metadata=bearer(access_token)
    )


async def revoke_all(channel: grpc.aio.Channel, access_token: str, user_id: str = "me") -> None:
    await auth(channel).RevokeAllSessions(
        auth_pb2.RevokeAllSessionsRequest(user_id=user_id), metadata=bearer(access_token)
    )


def assert_revoked(error: RichError) -> None:
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_REVOKED",
    ), error.message


async def test_list_sessions_shows_the_callers_live_sessions_and_marks_the_current_one(
    agent_channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(agent_channel)
    second = await login(agent_channel, caller.account.email)
    ended = await login(agent_channel, caller.account.email)
    await auth(agent_channel).Logout(auth_pb2.LogoutRequest(), metadata=bearer(ended.access_token))

    as_first = await list_sessions(agent_channel, caller.tokens.access_token)
    as_second = await list_sessions(agent_channel, second.access_token)

    live = {caller.tokens.session_id, second.session_id}
    assert {s.id for s in as_first.sessions} == live
    assert as_first.next_page_token == ""
    for session in as_first.sessions:
        assert session.user_id == caller.id
        assert session.client_ip == LOOPBACK
        assert session.user_agent.startswith(USER_AGENT), session.user_agent
        assert session.create_time.ToDatetime() <= session.last_use_time.ToDatetime()
        assert session.expire_time.ToDatetime() > session.create_time.ToDatetime()
    assert {s.id for s in as_first.sessions if s.current} == {caller.tokens.session_id}
    assert {s.id for s in as_second.sessions if s.current} == {second.session_id}


async def test_sessions_page_one_at_a_time_with_page_tokens(channel: grpc.aio.Channel) -> None:
    caller = await signed_in_user(channel)
    others = [await login(channel, caller.account.email) for _ in range(2)]
    expected = {caller.tokens.session_id, *(pair.session_id for pair in others)}

    pages: list[list[str]] = []
    token = ""
    for _ in range(len(expected) + 1):  # bounded: one page more than needed would be a bug
        page = await list_sessions(
            channel, caller.tokens.access_token, page_size=1, page_token=token
        )
        pages.append([s.id for s in page.sessions])
        token = page.next_page_token
        if not token:
            break

    assert [len(p) for p in pages] == [1, 1, 1]
    assert {p[0] for p in pages} == expected
    assert token == ""


async def test_a_sessions_page_token_is_bound_to_its_user(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    alice = await signed_in_user(channel, "alice")
    await login(channel, alice.account.email)
    bob = await signed_in_user(channel, "bob")
    await login(channel, bob.account.email)
    token = await list_sessions(channel, admin.tokens.access_token, alice.id, page_size=1)
    assert token.next_page_token

    error = await rpc_failure(
        list_sessions(
            channel,
            admin.tokens.access_token,
            bob.id,
            page_size=1,
            page_token=token.next_page_token,
        )
    )

    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_info.reason == "INVALID_PAGE_TOKEN"


async def test_a_user_cannot_list_or_revoke_another_users_sessions(
    channel: grpc.aio.Channel,
) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")
    token = alice.tokens.access_token

    listing = await rpc_failure(list_sessions(channel, token, bob.id))
    one = await rpc_failure(revoke_session(channel, token, bob.tokens.session_id))
    every = await rpc_failure(revoke_all(channel, token, bob.id))

    assert [e.code for e in (listing, every)] == [PERMISSION_DENIED] * 2
    # A session id is not a user id: another user's session is answered as a random id.
    assert (one.code, one.error_info.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert (await get_me(channel, bob.tokens.access_token)).id == bob.id
    bobs = await list_sessions(channel, bob.tokens.access_token)
    assert [s.id for s in bobs.sessions] == [bob.tokens.session_id]


async def test_an_administrator_can_list_and_revoke_another_users_sessions(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    bob = await signed_in_user(channel, "bob")
    second = await login(channel, bob.account.email)
    third = await login(channel, bob.account.email)

    listed = await list_sessions(channel, admin.tokens.access_token, bob.id)
    assert {s.id for s in listed.sessions} == {
        bob.tokens.session_id,
        second.session_id,
        third.session_id,
    }
    assert not any(s.current for s in listed.sessions)

    await revoke_session(channel, admin.tokens.access_token, second.session_id)
    assert_revoked(await rpc_failure(get_me(channel, second.access_token)))
    assert (await get_me(channel, bob.tokens.access_token)).id == bob.id

    await revoke_all(channel, admin.tokens.access_token, bob.id)
    for pair in (bob.tokens, third):
        assert_revoked(await rpc_failure(get_me(channel, pair.access_token)))
    assert (await list_sessions(channel, admin.tokens.access_token, bob.id)).sessions == []
    assert (await get_me(channel, admin.tokens.access_token)).id == admin.id


async def test_a_revoked_session_is_refused_and_no_longer_listed(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    other = await login(channel, caller.account.email)

    await revoke_session(channel, caller.tokens.access_token, other.session_id)

    assert_revoked(await rpc_failure(get_me(channel, other.access_token)))
    assert (await rpc_failure(refresh(channel, other.refresh_token))).code is (
        grpc.StatusCode.UNAUTHENTICATED
    )
    listed = await list_sessions(channel, caller.tokens.access_token)
    assert [s.id for s in listed.sessions] == [caller.tokens.session_id]


async def test_revoke_all_sessions_of_me_ends_the_callers_own_session_too(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    others = [await login(channel, caller.account.email) for _ in range(2)]

    await revoke_all(channel, caller.tokens.access_token)

    for pair in (caller.tokens, *others):
        assert_revoked(await rpc_failure(get_me(channel, pair.access_token)))
    fresh = await login(channel, caller.account.email)
    listed = await list_sessions(channel, fresh.access_token)
    assert [s.id for s in listed.sessions] == [fresh.session_id]


async def test_revoking_an_unknown_session_is_not_found_and_a_malformed_id_is_invalid(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)

    unknown = await rpc_failure(
        revoke_session(channel, caller.tokens.access_token, str(uuid.uuid4()))
    )
    malformed = await rpc_failure(revoke_session(channel, caller.tokens.access_token, "not-a-uuid"))

    assert (unknown.code, unknown.error_info.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    assert malformed.code is grpc.StatusCode.INVALID_ARGUMENT
    bad_request = malformed.detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["session_id"]
    assert (await get_me(channel, caller.tokens.access_token)).id == caller.id


async def test_a_session_revoked_on_one_replica_is_refused_by_another_within_a_second(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    # Two replicas share PostgreSQL, Redis and the signing keys, and nothing else.
    keys_dir = tmp_path / "keys"
    async with AsyncExitStack() as stack:
        (app_a, channel_a), (app_b, channel_b) = [
            await stack.enter_async_context(
                serving(settings_for_test(postgres_backend, tmp_path / name, keys_dir=keys_dir))
            )
            for name in ("a", "b")
        ]
        assert app_a.port != app_b.port
        caller: Caller = await signed_in_user(channel_a)
        other = await login(channel_a, caller.account.email)
        assert (await get_me(channel_b, other.access_token)).id == caller.id

        await revoke_session(channel_a, caller.tokens.access_token, other.session_id)

        error = await first_refusal(
            channel_b, other.access_token, within=REVOCATION_DEADLINE_SECONDS
        )
        assert error is not None, "replica b still accepts a token revoked on replica a"
        assert_revoked(error)
        assert (await get_me(channel_b, caller.tokens.access_token)).id == caller.id
