"""The UserService methods of the client: sign-up, profiles, administration."""

# ruff: noqa: ASYNC109 - `timeout` is the gRPC deadline of the call, as in grpc's own API

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TypeAlias

from google.protobuf import field_mask_pb2

from userservice.v1 import user_pb2
from userservice_client.base import ClientBase
from userservice_client.calls import Metadata

Role: TypeAlias = user_pb2.User.Role.ValueType  # user_pb2.User.ROLE_USER, ROLE_ADMIN
State: TypeAlias = user_pb2.User.State.ValueType  # user_pb2.User.STATE_ACTIVE, STATE_DISABLED


class UserServiceMethods(ClientBase):
    """userservice.v1.UserService, one method per RPC."""

    async def create_user(
        self,
        email: str,
        password: str,
        display_name: str = "",
        *,
        request_id: str | None = None,
        role: Role | None = None,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> user_pb2.User:
        """Signs up a user (or, as an admin, creates one, optionally with `role`).

        `request_id` is the idempotency key; by default a fresh UUID, so that repeating this
        one call returns the first result. Raises AlreadyExistsError (EMAIL_TAKEN) for a taken
        email and InvalidArgumentError for a bad email or a weak password.
        """
        request = user_pb2.CreateUserRequest(
            email=email,
            password=password,
            display_name=display_name,
            request_id=request_id or str(uuid.uuid4()),
            role=role if role is not None else user_pb2.User.ROLE_UNSPECIFIED,
        )
        return await self._call(self._users.CreateUser, request, timeout, metadata)

    async def get_user(
        self, user_id: str = "me", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> user_pb2.User:
        """One user by id ("me": the caller). NotFoundError when there is none."""
        request = user_pb2.GetUserRequest(id=user_id)
        return await self._call(self._users.GetUser, request, timeout, metadata)

    async def list_users(
        self,
        page_size: int = 0,
        page_token: str = "",
        filter: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> user_pb2.ListUsersResponse:
        """One page of users (admin). `filter`: e.g. `email:"ann*" AND state=STATE_ACTIVE`."""
        request = user_pb2.ListUsersRequest(
            page_size=page_size, page_token=page_token, filter=filter
        )
        return await self._call(self._users.ListUsers, request, timeout, metadata)

    async def iter_users(
        self,
        filter: str = "",
        page_size: int = 100,
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> AsyncIterator[user_pb2.User]:
        """Every user matching `filter`, fetching pages of `page_size` as it goes (admin)."""
        page_token = ""
        while True:
            page = await self.list_users(
                page_size, page_token, filter, timeout=timeout, metadata=metadata
            )
            for user in page.users:
                yield user
            page_token = page.next_page_token
            if not page_token:
                return

    async def update_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
        role: Role | None = None,
        state: State | None = None,
        etag: str = "",
        current_password: str = "",
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> user_pb2.User:
        """Changes the given fields (only those not None) of a user ("me" allowed).

        Role and state are for admins. With `etag`, AbortedError (ETAG_MISMATCH) when the user
        changed since it was read. Changing one's own `email` needs `current_password`
        (InvalidArgumentError, INVALID_CREDENTIALS, when wrong; RateLimitedError past
        the per-user limit on email changes); it is ignored otherwise.
        """
        user = user_pb2.User(id=user_id, etag=etag)
        mask = field_mask_pb2.FieldMask()
        if display_name is not None:
            user.display_name = display_name
            mask.paths.append("display_name")
        if email is not None:
            user.email = email
            mask.paths.append("email")
        if role is not None:
            user.role = role
            mask.paths.append("role")
        if state is not None:
            user.state = state
            mask.paths.append("state")
        request = user_pb2.UpdateUserRequest(
            user=user, update_mask=mask, current_password=current_password
        )
        return await self._call(self._users.UpdateUser, request, timeout, metadata)

    async def delete_user(
        self,
        user_id: str = "me",
        etag: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> None:
        """Deletes a user and revokes all of its sessions."""
        request = user_pb2.DeleteUserRequest(id=user_id, etag=etag)
        await self._call(self._users.DeleteUser, request, timeout, metadata)

    async def change_password(
        self, current: str, new: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Changes the caller's password; every other session of the caller is revoked."""
        request = user_pb2.ChangePasswordRequest(current_password=current, new_password=new)
        await self._call(self._users.ChangePassword, request, timeout, metadata)

    async def request_email_verification(
        self, user_id: str = "me", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Sends a verification code to the user's pending address, else to its unverified
        email (self or admin). FailedPreconditionError (EMAIL_ALREADY_VERIFIED) when there is
        nothing to verify."""
        request = user_pb2.RequestEmailVerificationRequest(user_id=user_id)
        await self._call(self._users.RequestEmailVerification, request, timeout, metadata)

    async def verify_email(
        self, code: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Verifies the address a code was sent to (no login needed: the code is the proof); a
        pending new email then becomes the user's email. InvalidArgumentError (CODE_INVALID)."""
        request = user_pb2.VerifyEmailRequest(code=code)
        await self._call(self._users.VerifyEmail, request, timeout, metadata, authenticated=False)


__all__ = ["Role", "State", "UserServiceMethods"]
