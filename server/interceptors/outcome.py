"""The status code a call ended with, as seen from around its handler."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio

from server.interceptors.base import Context

_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def final_code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    if error is None or isinstance(error, grpc.aio.AbortError):
        return _as_status_code(
            context.code(), default=grpc.StatusCode.OK if error is None else None
        )
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _as_status_code(raw: object, *, default: grpc.StatusCode | None) -> grpc.StatusCode:
    # grpc.aio reports the code set by abort()/set_code() as a StatusCode or, from the Cython
    # layer, as its integer value; None means none was set.
    if isinstance(raw, grpc.StatusCode):
        return raw
    if isinstance(raw, int):
        return _CODES_BY_VALUE.get(raw, grpc.StatusCode.UNKNOWN)
    return default or grpc.StatusCode.UNKNOWN
