"""One unary call as the clients make it: deadline, request id, credentials, typed errors.

Every call carries a deadline and an `x-request-id` (a fresh uuid4 unless the caller supplied
one), so a slow dependency cannot hang the caller and every call can be found in the server's
logs. When the server answers UNAUTHENTICATED/TOKEN_EXPIRED and the credentials can renew
themselves, the call is repeated once, within the same deadline and under the same request id.
"""

# ruff: noqa: ASYNC109 - `timeout` is the gRPC deadline of the call, as in grpc's own API

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Final, TypeVar

import grpc.aio

from userservice_client.credentials import Credentials, TokenClient
from userservice_client.errors import REQUEST_ID_HEADER, UnauthenticatedError, error_from_rpc

Metadata = Sequence[tuple[str, str]]
AUTHORIZATION_HEADER: Final = "authorization"
TOKEN_EXPIRED: Final = "TOKEN_EXPIRED"  # noqa: S105 - an error reason, not a secret

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


def new_request_id() -> str:
    """A request id for one logical call (uuid4, hex)."""
    return uuid.uuid4().hex


def _base_metadata(metadata: Metadata) -> tuple[list[tuple[str, str]], set[str]]:
    entries = [(key.lower(), value) for key, value in metadata]
    keys = {key for key, _ in entries}
    if REQUEST_ID_HEADER not in keys:
        entries.append((REQUEST_ID_HEADER, new_request_id()))
    return entries, keys


async def invoke(
    method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ResponseT],
    request: RequestT,
    *,
    timeout: float,
    metadata: Metadata,
    credentials: Credentials | None,
    token_client: TokenClient,
) -> ResponseT:
    """Runs `method(request)` and returns its response, or raises a `UserServiceError`.

    `credentials` None (or an `authorization` entry in `metadata`) sends no credentials of the
    client's own. `timeout` bounds the whole call, a renewal and repeat included.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    base, supplied = _base_metadata(metadata)
    source = None if AUTHORIZATION_HEADER in supplied else credentials
    renewed = False
    while True:
        authorization = None if source is None else await source.authorization(token_client)
        call_metadata = list(base)
        if authorization:
            call_metadata.append((AUTHORIZATION_HEADER, authorization))
        try:
            return await method(
                request, timeout=max(0.0, deadline - loop.time()), metadata=call_metadata
            )
        except grpc.aio.AioRpcError as failed:
            error = error_from_rpc(failed)
            expired = isinstance(error, UnauthenticatedError) and error.reason == TOKEN_EXPIRED
            if (
                expired
                and not renewed
                and source is not None
                and authorization is not None
                and await source.on_expired(token_client, authorization)
            ):
                renewed = True
                continue
            raise error from failed
