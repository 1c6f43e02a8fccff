"""Authentication: `authorization: Bearer <jwt>` → the principal, checked against the policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.domain import Principal
from server.errors import PermissionDenied, Reason
from server.rpc.policy import Access, MethodPolicy
from server.security.tokens import token_invalid, token_missing

Authenticate = Callable[[str], Awaitable[Principal]]


def bearer_token(header: str | bytes) -> str:
    """The token of an `authorization: Bearer <token>` header."""
    scheme, _, token = str(header).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise token_invalid("the authorization header must be `Bearer <token>`")
    return token.strip()


def enforce(policy: MethodPolicy, principal: Principal | None, *, signup_enabled: bool) -> None:
    access = policy.access
    if access is Access.PUBLIC or (access is Access.SIGNUP and signup_enabled):
        return
    if principal is None:
        raise token_missing()
    if access is Access.AUTHENTICATED:
        return
    if principal.is_admin or (policy.scope is not None and principal.has_scope(policy.scope)):
        return
    if principal.user_id is None and policy.scope is not None:  # a service account
        raise PermissionDenied(
            f"this call is for administrators, or a service account with the scope "
            f"{policy.scope.value}, which this one lacks",
            reason=Reason.ADMIN_REQUIRED,
        )
    raise PermissionDenied("this call is for administrators", reason=Reason.ADMIN_REQUIRED)
