"""Who may call each method: the one table the call pipeline reads before any handler runs.

PUBLIC needs nothing; SIGNUP is public while sign-up is open and otherwise ADMIN; AUTHENTICATED
needs a valid token (the service then decides self / admin / scope); ADMIN needs an admin's
token, or a service token with the listed scope. A service token never passes a bare ADMIN check.
A method missing from the table is treated as ADMIN (deny by default); a unit test keeps the
table's keys equal to the methods the server serves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from server.domain import Scope


class Access(enum.Enum):
    PUBLIC = "public"
    SIGNUP = "signup"
    AUTHENTICATED = "authenticated"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    access: Access
    # A service token with this scope passes an ADMIN (or closed SIGNUP) check.
    scope: Scope | None = None


PUBLIC: Final = MethodPolicy(Access.PUBLIC)
AUTHENTICATED: Final = MethodPolicy(Access.AUTHENTICATED)
ADMIN_ONLY: Final = MethodPolicy(Access.ADMIN)

_USERS = "/userservice.v1.UserService/"
_AUTH = "/userservice.v1.AuthService/"
_ACCOUNTS = "/userservice.v1.ServiceAccountService/"
_EVENTS = "/userservice.v1.EventService/"

POLICIES: Final[dict[str, MethodPolicy]] = {
    f"{_USERS}CreateUser": MethodPolicy(Access.SIGNUP, Scope.USERS_WRITE),
    f"{_USERS}GetUser": AUTHENTICATED,
    f"{_USERS}ListUsers": MethodPolicy(Access.ADMIN, Scope.USERS_READ),
    f"{_USERS}UpdateUser": AUTHENTICATED,
    f"{_USERS}DeleteUser": AUTHENTICATED,
    f"{_USERS}ChangePassword": AUTHENTICATED,
    f"{_AUTH}Login": PUBLIC,
    f"{_AUTH}RefreshToken": PUBLIC,
    f"{_AUTH}Logout": AUTHENTICATED,
    f"{_AUTH}ValidateToken": AUTHENTICATED,
    f"{_AUTH}GetJwks": PUBLIC,
    f"{_AUTH}ListSessions": AUTHENTICATED,
    f"{_AUTH}RevokeSession": AUTHENTICATED,
    f"{_AUTH}RevokeAllSessions": AUTHENTICATED,
    f"{_AUTH}IssueServiceToken": PUBLIC,
    f"{_ACCOUNTS}CreateServiceAccount": ADMIN_ONLY,
    f"{_ACCOUNTS}GetServiceAccount": ADMIN_ONLY,
    f"{_ACCOUNTS}ListServiceAccounts": ADMIN_ONLY,
    f"{_ACCOUNTS}UpdateServiceAccount": ADMIN_ONLY,
    f"{_ACCOUNTS}RotateServiceAccountSecret": ADMIN_ONLY,
    f"{_ACCOUNTS}DeleteServiceAccount": ADMIN_ONLY,
    f"{_EVENTS}WatchEvents": MethodPolicy(Access.ADMIN, Scope.EVENTS_READ),
    f"{_EVENTS}ListEvents": MethodPolicy(Access.ADMIN, Scope.EVENTS_READ),
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    # Registered with the health service but not implemented by grpc's aio servicer; it stays
    # behind the default it always had rather than answering anyone UNIMPLEMENTED.
    "/grpc.health.v1.Health/List": ADMIN_ONLY,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": PUBLIC,
}


def policy_for(full_method: str) -> MethodPolicy:
    return POLICIES.get(full_method, ADMIN_ONLY)
