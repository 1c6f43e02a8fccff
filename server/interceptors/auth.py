"""Authentication: `authorization: Bearer <jwt>` → the principal, checked against the policy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from server.domain import Principal
from server.errors import PermissionDenied, Unauthenticated
from server.interceptors.base import CallInfo, Context, WrappingInterceptor
from server.interceptors.call_context import principal_var
from server.servicers.policy import Access, MethodPolicy, policy_for

Authenticate = Callable[[str], Awaitable[Principal]]


def bearer_token(context: Context) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(
                    "the authorization header must be `Bearer <token>`", reason="TOKEN_INVALID"
                )
            return token.strip()
    return None


def token_missing() -> Unauthenticated:
    return Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")


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
    raise PermissionDenied("this call is for administrators", reason="ADMIN_REQUIRED")


class AuthInterceptor(WrappingInterceptor):
    def __init__(self, authenticate: Authenticate, *, signup_enabled: bool) -> None:
        super().__init__()
        self._authenticate = authenticate
        self._signup_enabled = signup_enabled

    @asynccontextmanager
    async def around(self, call: CallInfo, context: Context) -> AsyncIterator[None]:
        policy = policy_for(call.full_method)
        principal = None
        if policy.access is not Access.PUBLIC:
            token = bearer_token(context)
            if token is not None:
                principal = await self._authenticate(token)
        enforce(policy, principal, signup_enabled=self._signup_enabled)
        principal_var.set(principal)
        yield
