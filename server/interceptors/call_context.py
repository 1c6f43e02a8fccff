"""Per-call values, kept in contextvars so every layer below the transport can read them."""

from __future__ import annotations

from contextvars import ContextVar

from server.domain import Principal
from server.errors import Unauthenticated

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return principal_var.get()


def authenticated_principal() -> Principal:
    """The caller of a method whose policy requires authentication (the interceptor checked)."""
    principal = principal_var.get()
    if principal is None:
        raise Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")
    return principal
