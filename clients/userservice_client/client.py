"""`AsyncUserServiceClient`: the typed asyncio client of userservice.

Methods take plain Python arguments and return the generated protobuf messages (None where the
RPC returns `google.protobuf.Empty`); failures raise `UserServiceError` subclasses. Every method
also takes `timeout` (seconds; the client's default when None) and `metadata` (extra headers; an
`x-request-id` or `authorization` given there is sent instead of the client's own).
"""

from __future__ import annotations

from userservice_client.auth_api import AuthServiceMethods
from userservice_client.events_api import EventServiceMethods
from userservice_client.users_api import Role, State, UserServiceMethods


class AsyncUserServiceClient(UserServiceMethods, AuthServiceMethods, EventServiceMethods):
    """The asyncio client of userservice's UserService, AuthService and EventService.

    `async with AsyncUserServiceClient("host:50051") as client:` opens one channel that every
    call reuses, and closes it on exit (or call `await client.close()`).

    Args:
        target: where userservice listens ("host:port", "dns:///name:port", ...); calls are
            balanced round_robin over every address it resolves to.
        credentials: how calls authenticate (`StaticToken`, `LoginSession`); `login()`
            replaces them with a `LoginSession` that refreshes itself.
        tls: TLS (and mutual TLS) settings; None means an insecure channel.
        timeout: the default deadline of each call, in seconds.
        options: extra gRPC channel arguments (they override the defaults by name).
    """


__all__ = ["AsyncUserServiceClient", "Role", "State"]
