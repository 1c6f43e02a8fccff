"""The status code a call ended with, as seen from around its handler."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio

from server.rpc.call_context import ServicerContext

_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def final_code(context: ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    if error is None or isinstance(error, grpc.aio.AbortError):
        return _as_status_code(
            context.code(), default=grpc.StatusCode.OK if error is None else None
        )
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if _deadline_passed(context):
        # grpc answered DEADLINE_EXCEEDED itself; the handler's own status could no longer be
        # sent (abort() raises ExecuteBatchError once the call has ended). Not a bug: no UNKNOWN.
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.UNKNOWN


def _deadline_passed(context: ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def _as_status_code(raw: object, *, default: grpc.StatusCode | None) -> grpc.StatusCode:
    # grpc.aio reports the code set by abort()/set_code() as a StatusCode or, from the Cython
    # layer, as its integer value; None means none was set.
    if isinstance(raw, grpc.StatusCode):
        return raw
    if isinstance(raw, int):
        return _CODES_BY_VALUE.get(raw, grpc.StatusCode.UNKNOWN)
    return default or grpc.StatusCode.UNKNOWN
