"""userservice.v1.AuthService."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from userservice.v1 import auth_pb2, auth_pb2_grpc

Context = Any


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    async def Login(self, request: auth_pb2.LoginRequest, context: Context) -> auth_pb2.TokenPair:
        raise NotImplementedError

    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: Context
    ) -> auth_pb2.TokenPair:
        raise NotImplementedError

    async def Logout(self, request: auth_pb2.LogoutRequest, context: Context) -> empty_pb2.Empty:
        raise NotImplementedError

    async def ValidateToken(
        self, request: auth_pb2.ValidateTokenRequest, context: Context
    ) -> auth_pb2.ValidateTokenResponse:
        raise NotImplementedError

    async def GetJwks(
        self, request: auth_pb2.GetJwksRequest, context: Context
    ) -> auth_pb2.GetJwksResponse:
        raise NotImplementedError

    async def ListSessions(
        self, request: auth_pb2.ListSessionsRequest, context: Context
    ) -> auth_pb2.ListSessionsResponse:
        raise NotImplementedError

    async def RevokeSession(
        self, request: auth_pb2.RevokeSessionRequest, context: Context
    ) -> empty_pb2.Empty:
        raise NotImplementedError

    async def RevokeAllSessions(
        self, request: auth_pb2.RevokeAllSessionsRequest, context: Context
    ) -> empty_pb2.Empty:
        raise NotImplementedError

    async def IssueServiceToken(
        self, request: auth_pb2.IssueServiceTokenRequest, context: Context
    ) -> auth_pb2.TokenPair:
        raise NotImplementedError
