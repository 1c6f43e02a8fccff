"""Typed Python client for userservice.

Calling userservice::

    async with AsyncUserServiceClient("userservice:50051") as client:
        await client.login(email, password)  # later calls refresh the token by themselves
        me = await client.get_user()

Accepting its tokens in another grpc.aio service::

    verifier = TokenVerifier(ClientJwksSource(client), issuer="userservice", audience="userservice")
    server = grpc.aio.server(interceptors=[TokenAuthInterceptor(verifier)])
    # in a handler: current_token().subject

`UserServiceClient` is the blocking equivalent of `AsyncUserServiceClient`. Failures raise
`UserServiceError` subclasses, one per gRPC status code, with the server's `reason`.
"""

from userservice_client.channel import TlsOptions, create_channel
from userservice_client.client import AsyncUserServiceClient, Role, State
from userservice_client.credentials import (
    Credentials,
    LoginSession,
    ServiceCredentials,
    StaticToken,
    TokenClient,
)
from userservice_client.errors import (
    AbortedError,
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UserServiceError,
    error_from_rpc,
)
from userservice_client.interceptor import TokenAuthInterceptor, current_token
from userservice_client.jwks import ClientJwksSource, JwksSource
from userservice_client.sync import UserServiceClient
from userservice_client.verifier import (
    RejectReason,
    TokenRejected,
    TokenVerifier,
    VerifiedToken,
)

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "AsyncUserServiceClient",
    "ClientJwksSource",
    "Credentials",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "JwksSource",
    "LoginSession",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RejectReason",
    "Role",
    "ServiceCredentials",
    "State",
    "StaticToken",
    "TlsOptions",
    "TokenAuthInterceptor",
    "TokenClient",
    "TokenRejected",
    "TokenVerifier",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UserServiceClient",
    "UserServiceError",
    "VerifiedToken",
    "create_channel",
    "current_token",
    "error_from_rpc",
]
