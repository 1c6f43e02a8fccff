"""userservice.v1.AuthService."""

from __future__ import annotations

from google.protobuf import empty_pb2

from server.errors import InvalidArgument
from server.rpc.call_context import ServicerContext, authenticated_principal, current_principal
from server.rpc.caller_address import ClientResolver
from server.security.tokens import token_missing
from server.servicers.convert import (
    introspection_to_proto,
    session_to_proto,
    token_pair_to_proto,
)
from server.services.auth import AuthService
from server.services.password_reset import PasswordResetService
from server.services.service_accounts import ServiceAccountService
from server.services.sessions import SessionService
from userservice.v1 import auth_pb2, auth_pb2_grpc

_EMPTY = empty_pb2.Empty()


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        auth: AuthService,
        sessions: SessionService,
        service_accounts: ServiceAccountService,
        resets: PasswordResetService,
        clients: ClientResolver,
    ) -> None:
        self._resets = resets
        self._auth = auth
        self._service_accounts = service_accounts
        self._sessions = sessions
        self._clients = clients

    async def Login(
        self, request: auth_pb2.LoginRequest, context: ServicerContext
    ) -> auth_pb2.TokenPair:
        pair = await self._auth.login(
            request.email, request.password, self._clients.resolve(context)
        )
        return token_pair_to_proto(pair)

    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: ServicerContext
    ) -> auth_pb2.TokenPair:
        return token_pair_to_proto(await self._auth.refresh(request.refresh_token))

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._auth.logout(authenticated_principal(), request.refresh_token)
        return _EMPTY

    async def ValidateToken(
        self, request: auth_pb2.ValidateTokenRequest, context: ServicerContext
    ) -> auth_pb2.ValidateTokenResponse:
        result = await self._auth.introspect(request.access_token, authenticated_principal())
        return introspection_to_proto(result)

    async def GetJwks(
        self, request: auth_pb2.GetJwksRequest, context: ServicerContext
    ) -> auth_pb2.GetJwksResponse:
        return auth_pb2.GetJwksResponse(keys=[auth_pb2.Jwk(**jwk) for jwk in self._auth.jwks()])

    async def ListSessions(
        self, request: auth_pb2.ListSessionsRequest, context: ServicerContext
    ) -> auth_pb2.ListSessionsResponse:
        principal = authenticated_principal()
        sessions, next_token = await self._sessions.list_sessions(
            request.user_id, size=request.page_size, token=request.page_token, principal=principal
        )
        return auth_pb2.ListSessionsResponse(
            sessions=[session_to_proto(s, current=s.id == principal.session_id) for s in sessions],
            next_page_token=next_token,
        )

    async def RevokeSession(
        self, request: auth_pb2.RevokeSessionRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._sessions.revoke_session(request.session_id, principal=authenticated_principal())
        return _EMPTY

    async def RevokeAllSessions(
        self, request: auth_pb2.RevokeAllSessionsRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._sessions.revoke_all_sessions(
            request.user_id, principal=authenticated_principal()
        )
        return _EMPTY

    async def IssueServiceToken(
        self, request: auth_pb2.IssueServiceTokenRequest, context: ServicerContext
    ) -> auth_pb2.TokenPair:
        pair = await self._service_accounts.issue_service_token(
            request.client_id,
            request.client_secret,
            list(request.scopes),
            self._clients.resolve(context),
        )
        return token_pair_to_proto(pair)

    async def RequestPasswordReset(
        self, request: auth_pb2.RequestPasswordResetRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        if request.user_id and request.email:
            raise InvalidArgument.for_field("user_id", "give either email or user_id, not both")
        if request.user_id:
            principal = current_principal()
            if principal is None:
                raise token_missing()
            await self._resets.request_for_user(request.user_id, principal)
        else:
            await self._resets.request_by_email(request.email, self._clients.resolve(context))
        return _EMPTY

    async def ResetPassword(
        self, request: auth_pb2.ResetPasswordRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._resets.reset(request.code, request.new_password)
        return _EMPTY
