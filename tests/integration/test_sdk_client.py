"""The client SDK against a real userservice: every wrapped RPC, typed errors, token refresh.

Tests that exercise state (sessions, revocation, paging) run on both backends through the `app`
fixture; tests of the SDK's own behaviour (error mapping, refresh) run on the embedded one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest

from server.app import Application
from tests.support.flows import PASSWORD, unique_email
from tests.support.proxy import Mode, Proxy
from tests.support.sdk import (
    HOUR,
    admin_client,
    embedded_app,
    expired_access_token,
    sdk_client,
    signed_up,
    target,
    with_access_token,
)
from userservice.v1 import user_pb2
from userservice_client import (
    AbortedError,
    AlreadyExistsError,
    AsyncUserServiceClient,
    DeadlineExceededError,
    InvalidArgumentError,
    LoginSession,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    StaticToken,
    UnauthenticatedError,
    UserServiceClient,
)

NEW_PASSWORD = "amber-orchard-compass-83"


async def test_a_user_signs_up_logs_in_and_manages_its_profile(app: Application) -> None:
    async with sdk_client(app) as client:
        email = unique_email("profile")
        created = await client.create_user(f"  {email.upper()} ", PASSWORD, "Ada")
        assert created.email == email
        assert created.role == user_pb2.User.ROLE_USER

        pair = await client.login(email, PASSWORD)
        assert pair.token_type == "Bearer"
        assert isinstance(client.credentials, LoginSession)
        me = await client.get_user()
        assert me.id == created.id

        renamed = await client.update_user("me", display_name="Ada L.", etag=me.etag)
        assert renamed.display_name == "Ada L."
        assert renamed.etag != me.etag
        with pytest.raises(AbortedError) as stale:
            await client.update_user("me", display_name="Lost update", etag=me.etag)
        assert stale.value.reason == "ETAG_MISMATCH"


async def test_changing_ones_own_email_through_the_sdk_needs_the_current_password(
    app: Application,
) -> None:
    async with sdk_client(app) as client:
        await signed_up(client, "mover")
        wanted = unique_email("moved")
        with pytest.raises(InvalidArgumentError) as wrong:
            await client.update_user("me", email=wanted, current_password="not-my-password-at-all")
        moved = await client.update_user("me", email=wanted, current_password=PASSWORD)
        assert wrong.value.reason == "INVALID_CREDENTIALS"
        assert moved.email != wanted  # pending until VerifyEmail gets the code sent to it


async def test_create_user_with_the_same_request_id_returns_the_first_user(
    tmp_path: Path,
) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        key = str(uuid.uuid4())
        email = unique_email("idem")
        first = await client.create_user(email, PASSWORD, request_id=key)
        again = await client.create_user(email, PASSWORD, request_id=key)
        assert again.id == first.id


async def test_tokens_validate_and_keys_are_published(app: Application) -> None:
    async with sdk_client(app) as client:
        await signed_up(client, "tokens")
        session = client.credentials
        assert isinstance(session, LoginSession)

        introspection = await client.validate_token(session.access_token)
        assert introspection.active
        assert introspection.session_id == session.session_id
        jwks = await client.get_jwks()
        assert [key.alg for key in jwks.keys] == ["EdDSA"] * len(jwks.keys)
        assert jwks.keys


async def test_sessions_are_listed_and_revoked(app: Application) -> None:
    async with sdk_client(app) as phone, sdk_client(app) as laptop:
        email = await signed_up(phone, "sessions")
        await laptop.login(email, PASSWORD)

        listed = await phone.list_sessions()
        assert len(listed.sessions) == 2
        [current] = [s for s in listed.sessions if s.current]
        [other] = [s for s in listed.sessions if not s.current]
        await phone.revoke_session(other.id)
        with pytest.raises(UnauthenticatedError) as revoked:
            await laptop.get_user()
        assert revoked.value.reason == "TOKEN_REVOKED"

        await phone.get_user()
        await phone.revoke_all_sessions()
        with pytest.raises(UnauthenticatedError):
            await phone.get_user()
        assert current.id != other.id


async def test_change_password_logout_and_delete(app: Application) -> None:
    async with sdk_client(app) as client:
        email = await signed_up(client, "lifecycle")
        await client.change_password(PASSWORD, NEW_PASSWORD)
        old_session = client.credentials
        assert isinstance(old_session, LoginSession)

        await client.logout()
        assert client.credentials is None
        client.credentials = StaticToken(old_session.access_token)
        with pytest.raises(UnauthenticatedError) as refused:
            await client.get_user()
        assert refused.value.reason == "TOKEN_REVOKED"

        await client.login(email, NEW_PASSWORD)
        await client.delete_user()
        with pytest.raises(UnauthenticatedError) as gone:
            await client.login(email, NEW_PASSWORD)
        assert gone.value.reason == "INVALID_CREDENTIALS"


async def test_an_admin_pages_through_every_user(app: Application) -> None:
    prefix = f"page-{uuid.uuid4().hex[:8]}"
    emails = [f"{prefix}-{n}@example.com" for n in range(7)]
    async with admin_client(app) as admin, sdk_client(app) as anyone:
        for email in emails:
            await anyone.create_user(email, PASSWORD)

        first = await admin.list_users(page_size=3, filter=f'email:"{prefix}*"')
        assert len(first.users) == 3
        assert first.next_page_token
        listed = [user.email async for user in admin.iter_users(f'email:"{prefix}*"', 3)]
        assert sorted(listed) == sorted(emails)
        assert len(set(listed)) == len(emails)

        promoted = await admin.update_user(first.users[0].id, role=user_pb2.User.ROLE_ADMIN)
        assert promoted.role == user_pb2.User.ROLE_ADMIN


async def test_failures_raise_typed_errors_with_their_reasons(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        email = await signed_up(client, "errors")
        with pytest.raises(AlreadyExistsError) as taken:
            await client.create_user(email, PASSWORD)
        assert taken.value.reason == "EMAIL_TAKEN"
        assert taken.value.request_id

        with pytest.raises(InvalidArgumentError) as bad:
            await client.create_user("not-an-email", PASSWORD)
        assert "email" in [violation.field for violation in bad.value.field_violations]

        with pytest.raises(PermissionDeniedError):
            await client.list_users()
        async with admin_client(app) as admin:
            with pytest.raises(NotFoundError) as unknown:
                await admin.get_user(str(uuid.uuid4()))
        assert unknown.value.reason == "USER_NOT_FOUND"
        # A server that never answers (the hashing pool would refuse a deadline too short for
        # a hash itself, RESOURCE_EXHAUSTED, before hashing).
        async with (
            Proxy("127.0.0.1", app.port) as stalled,
            AsyncUserServiceClient(f"127.0.0.1:{stalled.port}") as unanswered,
        ):
            await stalled.set_mode(Mode.STALL)
            with pytest.raises(DeadlineExceededError):
                await unanswered.login(email, PASSWORD, timeout=0.5)

        client.credentials = None
        with pytest.raises(UnauthenticatedError) as missing:
            await client.get_user()
        assert missing.value.reason == "TOKEN_MISSING"


async def test_an_error_carries_the_request_id_the_caller_sent(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        with pytest.raises(UnauthenticatedError) as failed:
            await client.get_user(metadata=(("x-request-id", "trace-1234"),))
        assert failed.value.request_id == "trace-1234"


async def test_a_throttled_login_raises_rate_limited_with_a_retry_delay(tmp_path: Path) -> None:
    async with (
        embedded_app(tmp_path, login_failures_per_account=2) as app,
        sdk_client(app) as client,
    ):
        email = unique_email("throttled")
        await client.create_user(email, PASSWORD)
        for _ in range(2):
            with pytest.raises(UnauthenticatedError):
                await client.login(email, "wrong-password-entirely-1")
        with pytest.raises(RateLimitedError) as limited:
            await client.login(email, PASSWORD)
        assert limited.value.reason == "RATE_LIMITED"
        assert limited.value.retry_delay is not None
        assert limited.value.retry_delay > dt.timedelta(0)


async def test_an_access_token_about_to_expire_is_refreshed_before_the_call(
    tmp_path: Path,
) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "refresh")
        me = await client.get_user()
        session = client.credentials
        assert isinstance(session, LoginSession)
        expired = expired_access_token(app, session.tokens, me.id)
        past = dt.datetime.now(dt.UTC) - HOUR
        stale = LoginSession(with_access_token(session.tokens, expired, expires_at=past))
        client.credentials = stale

        assert (await client.get_user()).id == me.id
        assert stale.refresh_token != session.refresh_token
        assert stale.access_token != expired


async def test_a_token_the_server_finds_expired_is_refreshed_and_the_call_repeated(
    tmp_path: Path,
) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "reactive")
        me = await client.get_user()
        session = client.credentials
        assert isinstance(session, LoginSession)
        expired = expired_access_token(app, session.tokens, me.id)
        # The holder believes the token is good for an hour: only the server can tell.
        believed = dt.datetime.now(dt.UTC) + HOUR
        stale = LoginSession(with_access_token(session.tokens, expired, expires_at=believed))
        client.credentials = stale

        assert (await client.get_user()).id == me.id
        assert stale.refresh_token != session.refresh_token


async def test_concurrent_calls_share_one_refresh(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "crowd")
        me = await client.get_user()
        session = client.credentials
        assert isinstance(session, LoginSession)
        expired = expired_access_token(app, session.tokens, me.id)
        past = dt.datetime.now(dt.UTC) - HOUR
        client.credentials = LoginSession(
            with_access_token(session.tokens, expired, expires_at=past)
        )

        # Two refreshes with the same refresh token would be reuse: the server would revoke
        # the session and these calls would fail.
        results = await asyncio.gather(*(client.get_user() for _ in range(10)))
        assert {user.id for user in results} == {me.id}
        assert len((await client.list_sessions()).sessions) == 1


async def test_the_blocking_client_does_the_basic_flow(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app:
        email = unique_email("sync")

        def flow() -> tuple[str, str, bool]:
            with UserServiceClient(target(app)) as client:
                created = client.create_user(email, PASSWORD, "Blocking")
                client.login(email, PASSWORD)
                me = client.get_user()
                renamed = client.update_user("me", display_name="Still blocking")
                active = client.validate_token(client.login(email, PASSWORD).access_token).active
                client.logout()
                assert renamed.display_name == "Still blocking"
                return created.id, me.id, active

        # The server shares this thread's event loop; the blocking client must not block it.
        created_id, me_id, active = await asyncio.to_thread(flow)
        assert created_id == me_id
        assert active


async def test_a_closed_client_refuses_calls(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app:
        client = AsyncUserServiceClient(target(app))
        await client.get_jwks()
        await client.close()
        await client.close()
        with pytest.raises(RuntimeError):
            await client.get_jwks()
