"""Request ids (`x-request-id` taken when sane, else generated) and the access log: one line per
finished call with method, peer, code, duration, user and request id.

The access line is the one log line every call writes, so it skips structlog's processor chain:
in JSON mode the call hands its fields to the same batched stderr writer, whose flushing thread
encodes them, with the same keys as every other line (`event`, `level`, `timestamp`). Measured
on the empty-RPC service, the structlog call was the largest single cost of the per-call wrapper.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import time
from collections.abc import Callable

import structlog

from server.observability.log_output import Line, stderr_line_sink

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_LENGTH = 128

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def sane_request_id(value: object) -> str | None:
    """The caller's request id when it is printable ASCII of a bounded length, else None."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_REQUEST_ID_LENGTH
        and value.isascii()
        and value.isprintable()
    ):
        return value
    return None


def new_request_id() -> str:
    return os.urandom(16).hex()


class AccessLog:
    """Writes the access line at INFO (or DEBUG for `quiet` calls, such as health probes)."""

    def __init__(
        self,
        logger: structlog.typing.FilteringBoundLogger,
        *,
        level: str,
        json_lines: bool,
        sink: Callable[[Line], None] | None = None,
    ) -> None:
        self._log = logger
        threshold: int = logging.getLevelName(level)
        self.info_enabled = threshold <= logging.INFO
        self.debug_enabled = threshold <= logging.DEBUG
        self._json_sink = (sink or stderr_line_sink()) if json_lines else None

    def started(self, method: str, request_id: str) -> None:
        """At DEBUG, a line as each call starts (a call that never ends is still seen)."""
        if self.debug_enabled:
            self._log.debug("rpc started", method=method, request_id=request_id)

    def enabled(self, *, quiet: bool) -> bool:
        return self.debug_enabled if quiet else self.info_enabled

    def write(
        self,
        *,
        quiet: bool,
        method: str,
        peer: str,
        code: str,
        duration_ms: float,
        user: str,
        request_id: str,
        trace_id: str = "",
    ) -> None:
        """`trace_id` (the call's recorded trace, when tracing is on) is written when not empty."""
        level = "debug" if quiet else "info"
        if self._json_sink is None:
            log = self._log.debug if quiet else self._log.info
            log(
                "rpc",
                method=method,
                peer=peer,
                code=code,
                duration_ms=duration_ms,
                user=user,
                request_id=request_id,
                **({"trace_id": trace_id} if trace_id else {}),
            )
            return
        self._json_sink(
            functools.partial(
                _json_line,
                method,
                peer,
                code,
                duration_ms,
                user,
                request_id,
                level,
                time.time(),
                trace_id,
            )
        )


def _json_line(
    method: str,
    peer: str,
    code: str,
    duration_ms: float,
    user: str,
    request_id: str,
    level: str,
    at: float,
    trace_id: str,
) -> str:
    line: dict[str, object] = {
        "method": method,
        "peer": peer,
        "code": code,
        "duration_ms": duration_ms,
        "user": user,
        "request_id": request_id,
    }
    if trace_id:
        line["trace_id"] = trace_id
    line["event"] = "rpc"
    line["level"] = level
    line["timestamp"] = dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")
    return _encode(line)
