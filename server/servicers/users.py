"""userservice.v1.UserService."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from userservice.v1 import user_pb2, user_pb2_grpc

Context = Any


class UserServicer(user_pb2_grpc.UserServiceServicer):
    async def CreateUser(
        self, request: user_pb2.CreateUserRequest, context: Context
    ) -> user_pb2.User:
        raise NotImplementedError

    async def GetUser(self, request: user_pb2.GetUserRequest, context: Context) -> user_pb2.User:
        raise NotImplementedError

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
