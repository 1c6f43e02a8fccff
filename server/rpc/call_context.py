"""Per-call values: the servicer context's type, and contextvars every layer below can read."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, TypeAlias

import grpc.aio

from server.domain import Principal
from server.security.tokens import token_missing

# The one spelling of a handler's context, for servicers and the pipeline alike.
ServicerContext: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return principal_var.get()


def authenticated_principal() -> Principal:
    """The caller of a method whose policy requires authentication (the pipeline checked)."""
    principal = principal_var.get()
    if principal is None:
        raise token_missing()
    return principal
