"""userservice.v1.UserService."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from server.interceptors.call_context import authenticated_principal, current_principal
from server.servicers.convert import role_from_proto, user_to_proto
from server.services.users import UserService
from userservice.v1 import user_pb2, user_pb2_grpc

Context = Any


class UserServicer(user_pb2_grpc.UserServiceServicer):
    def __init__(self, users: UserService) -> None:
        self._users = users

    async def CreateUser(
        self, request: user_pb2.CreateUserRequest, context: Context
    ) -> user_pb2.User:
        user = await self._users.create_user(
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            role=role_from_proto(request.role, field="role"),
            request_id=request.request_id,
            principal=current_principal(),
        )
        return user_to_proto(user)

    async def GetUser(self, request: user_pb2.GetUserRequest, context: Context) -> user_pb2.User:
        return user_to_proto(await self._users.get_user(request.id, authenticated_principal()))

    async def ListUsers(
        self, request: user_pb2.ListUsersRequest, context: Context
    ) -> user_pb2.ListUsersResponse:
        raise NotImplementedError

    async def UpdateUser(
        self, request: user_pb2.UpdateUserRequest, context: Context
    ) -> user_pb2.User:
        raise NotImplementedError

    async def DeleteUser(
        self, request: user_pb2.DeleteUserRequest, context: Context
    ) -> empty_pb2.Empty:
        raise NotImplementedError

    async def ChangePassword(
        self, request: user_pb2.ChangePasswordRequest, context: Context
    ) -> empty_pb2.Empty:
        raise NotImplementedError
