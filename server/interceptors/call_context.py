"""Per-call values, kept in contextvars so every layer below the transport can read them."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
