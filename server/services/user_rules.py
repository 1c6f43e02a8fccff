"""The rules UserService applies to one user: who may change it, and how a change applies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from server.domain import Principal, Role, Scope, StoredUser, User, UserChanges
from server.errors import Aborted, InvalidArgument, NotFound, PermissionDenied, Reason
from server.services.unit_of_work import UserRepository


def user_not_found() -> NotFound:
    return NotFound("no such user", reason=Reason.USER_NOT_FOUND)


def etag_mismatch() -> Aborted:
    return Aborted("the user changed since it was read; read it again", reason=Reason.ETAG_MISMATCH)


def password_changed_meanwhile() -> Aborted:
    return Aborted("the password changed meanwhile; try again", reason=Reason.CONCURRENT_CHANGE)


def wrong_current_password() -> InvalidArgument:
    return InvalidArgument.for_field(
        "current_password", "is not the current password", reason=Reason.INVALID_CREDENTIALS
    )


def signup_exempt(principal: Principal | None) -> bool:
    """Administrators and users:write services create accounts on others' behalf, unthrottled;
    any other caller (an ordinary user's token included) is a sign-up like an anonymous one."""
    return principal is not None and (principal.is_admin or principal.has_scope(Scope.USERS_WRITE))


def require_may_act_on(principal: Principal, target: User) -> None:
    """Only an administrator acts on an administrator: a service holding users:write or
    sessions:revoke may not disable, delete, re-address or sign out one, or a leaked service
    secret would carry an administrator's power."""
    if target.role is Role.ADMIN and not (principal.is_admin or principal.user_id == target.id):
        raise PermissionDenied(
            "only an administrator may act on an administrator", reason=Reason.ADMIN_REQUIRED
        )


async def locked_user(
    users: UserRepository, user_id: uuid.UUID, etag: str, principal: Principal
) -> StoredUser:
    stored = await users.get_for_update(user_id)
    if stored is None:
        raise user_not_found()
    require_may_act_on(principal, stored.user)
    if etag and etag != stored.user.etag:
        raise etag_mismatch()
    return stored


def changed_user(
    user: User, changes: UserChanges, *, name: str | None, email: str | None, now: dt.datetime
) -> User:
    """`user` with the requested changes applied, as its next version; a new email is unverified."""
    new_email = email is not None and email != user.email
    return dataclasses.replace(
        user,
        display_name=user.display_name if name is None else name,
        email=user.email if email is None else email,
        email_verified=user.email_verified and not new_email,
        role=changes.role or user.role,
        state=changes.state or user.state,
        version=user.version + 1,
        updated_at=now,
    )


def require_may_change(principal: Principal, changes: UserChanges) -> None:
    """A role only an administrator changes; a state, an administrator or users:write."""
    if changes.role is not None and not principal.is_admin:
        raise PermissionDenied(
            "only an administrator may change a role", reason=Reason.FIELD_NOT_ALLOWED
        )
    if changes.state is not None and not (
        principal.is_admin or principal.has_scope(Scope.USERS_WRITE)
    ):
        raise PermissionDenied(
            "only an administrator may change a state", reason=Reason.FIELD_NOT_ALLOWED
        )
