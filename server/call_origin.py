"""Where the current call comes from: its request id, the client's address and its caller.

The call pipeline sets it for every RPC (the address is resolved only when asked, so calls that
record no event pay nothing for it); the event log reads it. Outside an RPC (the purge, an
operator's command) there is none.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

from server.domain import Principal


class CallOrigin(Protocol):
    @property
    def request_id(self) -> str: ...

    def client_ip(self) -> str:
        """The caller's address, believing x-forwarded-for only from trusted proxies."""
        ...

    def principal(self) -> Principal | None:
        """Who the call authenticated as; None for a call without a token."""
        ...


origin_var: ContextVar[CallOrigin | None] = ContextVar("call_origin", default=None)
