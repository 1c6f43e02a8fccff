"""A consumer of the SDK that uses it correctly: `mypy --strict` must find nothing here.

Type-checked (never run) by tests/unit/test_sdk_typing.py.
"""

from __future__ import annotations

import datetime as dt

import grpc.aio

from userservice.v1 import auth_pb2, user_pb2
from userservice_client import (
    AlreadyExistsError,
    AsyncUserServiceClient,
    ClientJwksSource,
    Credentials,
    FieldViolation,
    InvalidArgumentError,
    LoginSession,
    RateLimitedError,
    RejectReason,
    StaticToken,
    TlsOptions,
    TokenAuthInterceptor,
    TokenClient,
    TokenRejected,
    TokenVerifier,
    UserServiceClient,
    UserServiceError,
    VerifiedToken,
    current_token,
)


class ForwardedToken(Credentials):
    """A credentials mode of the consumer's own: the token of the request being served."""

    async def authorization(self, client: TokenClient) -> str | None:
        token = current_token()
        return None if token is None else f"Bearer {token.claims['jti']}"


async def onboard(target: str, email: str, password: str) -> str:
    tls = TlsOptions(ca_file="ca.pem", server_name_override="userservice.internal")
    async with AsyncUserServiceClient(target, tls=tls, timeout=2.0) as client:
        try:
            created: user_pb2.User = await client.create_user(email, password, "New")
        except AlreadyExistsError as taken:
            reason: str = taken.reason
            raise RuntimeError(reason) from taken
        except InvalidArgumentError as bad:
            fields: list[str] = [v.field for v in bad.field_violations]
            first: FieldViolation | None = bad.field_violations[0] if fields else None
            raise RuntimeError(first) from bad
        try:
            pair: auth_pb2.TokenPair = await client.login(email, password, timeout=1.0)
        except RateLimitedError as limited:
            delay: dt.timedelta | None = limited.retry_delay
            raise RuntimeError(delay) from limited
        assert isinstance(client.credentials, LoginSession)
        me = await client.get_user(metadata=(("x-request-id", "abc"),))
        updated = await client.update_user(
            "me", display_name="Renamed", state=user_pb2.User.STATE_ACTIVE, etag=me.etag
        )
        page: user_pb2.ListUsersResponse = await client.list_users(page_size=10)
        emails = [user.email async for user in client.iter_users("state=STATE_ACTIVE", 50)]
        sessions = await client.list_sessions()
        for session in sessions.sessions:
            if not session.current:
                await client.revoke_session(session.id)
        introspection = await client.validate_token(pair.access_token)
        await client.change_password(password, password + "!")
        await client.logout()
        return f"{created.id}{updated.etag}{page.next_page_token}{emails}{introspection.active}"


def blocking(target: str) -> list[str]:
    with UserServiceClient(target, credentials=StaticToken("token")) as client:
        keys: auth_pb2.GetJwksResponse = client.get_jwks()
        try:
            client.delete_user("me", etag="1")
        except UserServiceError as failed:
            code: grpc.StatusCode = failed.code
            return [code.name]
        return [key.kid for key in keys.keys] + [u.id for u in client.iter_users(page_size=5)]


async def protected_server(client: AsyncUserServiceClient) -> grpc.aio.Server:
    def not_disabled(token: VerifiedToken) -> None:
        if token.role not in ("user", "admin"):
            raise TokenRejected("TOKEN_INVALID", "unexpected role")

    verifier = TokenVerifier(
        ClientJwksSource(client),
        issuer="userservice",
        audience="userservice",
        algorithms=("EdDSA",),
        refetch_interval=dt.timedelta(seconds=10),
        validate=not_disabled,
        confirm_with=client,
    )
    try:
        verified = await verifier.verify("eyJ...")
        expires: dt.datetime = verified.expires_at
        scopes: tuple[str, ...] = verified.scopes
        print(expires, scopes)
    except TokenRejected as rejected:
        why: RejectReason = rejected.reason
        assert why
    interceptor = TokenAuthInterceptor(verifier, public_methods={"/grpc.health.v1.Health/Check"})
    client.credentials = ForwardedToken()
    return grpc.aio.server(interceptors=[interceptor])
