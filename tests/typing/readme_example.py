"""The README's example: an internal grpc.aio service that accepts userservice tokens.

README.md ("Client SDK and CLI") shows everything below the marker line verbatim.
tests/unit/test_readme_client_example.py checks that and type-checks this file with
mypy --strict; tests/integration/test_readme_service_example.py runs it against userservice.
"""

# --- README example ---
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc.aio

from userservice_client import (
    AsyncUserServiceClient,
    ClientJwksSource,
    TokenAuthInterceptor,
    TokenVerifier,
    current_token,
)

AddServicers = Callable[[grpc.aio.Server, AsyncUserServiceClient], None]


async def serve(userservice: str, listen: str, add_servicers: AddServicers) -> None:
    async with AsyncUserServiceClient(userservice) as users:  # one channel, reused by every call
        keys = ClientJwksSource(users)  # GetJwks; the verifier caches the keys
        verifier = TokenVerifier(keys, issuer="userservice", audience="userservice")
        server = grpc.aio.server(interceptors=[TokenAuthInterceptor(verifier)])
        add_servicers(server, users)  # e.g. add_OrdersServicer_to_server(Orders(users), server)
        server.add_insecure_port(listen)
        await server.start()
        await server.wait_for_termination()


async def caller_email(
    users: AsyncUserServiceClient, context: grpc.aio.ServicerContext[Any, Any]
) -> str:
    """In a handler: the caller's verified token, and its profile read as the caller."""
    caller = current_token()  # set by TokenAuthInterceptor before the handler runs
    assert caller is not None
    forwarded = [
        (k, str(v)) for k, v in context.invocation_metadata() or () if k == "authorization"
    ]
    user = await users.get_user(caller.subject, metadata=forwarded)
    return user.email
