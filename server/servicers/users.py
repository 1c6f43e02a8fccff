"""userservice.v1.UserService."""

from __future__ import annotations

from google.protobuf import empty_pb2

from server.domain import UserChanges
from server.errors import InvalidArgument
from server.rpc.call_context import ServicerContext, authenticated_principal, current_principal
from server.rpc.caller_address import ClientResolver
from server.rpc.handlers import preserialized
from server.servicers.convert import mask_paths, role_from_proto, state_from_proto, user_to_proto
from server.servicers.encoded_users import EncodedUsers
from server.services.email_verification import EmailVerificationService
from server.services.users import UserService
from userservice.v1 import user_pb2, user_pb2_grpc

_EMPTY = empty_pb2.Empty()
UPDATABLE_PATHS = frozenset({"display_name", "email", "role", "state"})


def user_changes(request: user_pb2.UpdateUserRequest) -> UserChanges:
    """The FieldMask and the user message → what to change; bad paths are INVALID_ARGUMENT."""
    paths = mask_paths(request.update_mask, UPDATABLE_PATHS)
    user = request.user
    role = role_from_proto(user.role, field="user.role") if "role" in paths else None
    state = state_from_proto(user.state, field="user.state") if "state" in paths else None
    if "role" in paths and role is None:
        raise InvalidArgument.for_field("user.role", "must be ROLE_USER or ROLE_ADMIN")
    if "state" in paths and state is None:
        raise InvalidArgument.for_field("user.state", "must be STATE_ACTIVE or STATE_DISABLED")
    return UserChanges(
        display_name=user.display_name if "display_name" in paths else None,
        email=user.email if "email" in paths else None,
        role=role,
        state=state,
    )


class UserServicer(user_pb2_grpc.UserServiceServicer):
    def __init__(
        self,
        users: UserService,
        verification: EmailVerificationService,
        clients: ClientResolver,
        *,
        encoded_users: int,
    ) -> None:
        self._users = users
        self._verification = verification
        self._clients = clients
        self._encoded = EncodedUsers(encoded_users)

    async def CreateUser(
        self, request: user_pb2.CreateUserRequest, context: ServicerContext
    ) -> user_pb2.User:
        user = await self._users.create_user(
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            role=role_from_proto(request.role, field="role"),
            request_id=request.request_id,
            principal=current_principal(),
            client=self._clients.resolve(context),
        )
        return user_to_proto(user)

    # The hottest read: answered with the user's cached encoding (server/servicers/encoded_users.py)
    # and registered without a response serializer, hence bytes where the stub says User.
    @preserialized
    async def GetUser(  # type: ignore[override]
        self, request: user_pb2.GetUserRequest, context: ServicerContext
    ) -> bytes:
        return self._encoded.encode(
            await self._users.get_user(request.id, authenticated_principal())
        )

    async def ListUsers(
        self, request: user_pb2.ListUsersRequest, context: ServicerContext
    ) -> user_pb2.ListUsersResponse:
        users, next_token = await self._users.list_users(
            size=request.page_size,
            token=request.page_token,
            filter_text=request.filter,
            principal=authenticated_principal(),
        )
        return user_pb2.ListUsersResponse(
            users=[user_to_proto(u) for u in users], next_page_token=next_token
        )

    async def UpdateUser(
        self, request: user_pb2.UpdateUserRequest, context: ServicerContext
    ) -> user_pb2.User:
        user = await self._users.update_user(
            request.user.id,
            user_changes(request),
            etag=request.user.etag,
            principal=authenticated_principal(),
            current_password=request.current_password,
        )
        return user_to_proto(user)

    async def DeleteUser(
        self, request: user_pb2.DeleteUserRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._users.delete_user(
            request.id, etag=request.etag, principal=authenticated_principal()
        )
        return _EMPTY

    async def ChangePassword(
        self, request: user_pb2.ChangePasswordRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._users.change_password(
            request.current_password,
            request.new_password,
            principal=authenticated_principal(),
            client=self._clients.resolve(context),
        )
        return _EMPTY

    async def RequestEmailVerification(
        self, request: user_pb2.RequestEmailVerificationRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._verification.request_verification(request.user_id, authenticated_principal())
        return _EMPTY

    async def VerifyEmail(
        self, request: user_pb2.VerifyEmailRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._verification.verify_email(request.code)
        return _EMPTY
