"""`TokenAuthInterceptor`: accept userservice tokens in any grpc.aio service.

    server = grpc.aio.server(interceptors=[TokenAuthInterceptor(verifier, public_methods=...)])
    ...
    async def Hello(self, request, context):
        caller = current_token()  # the VerifiedToken of this call

Each call's `authorization: Bearer <token>` is verified before the handler runs; the result is
put in a contextvar that `current_token()` reads (each grpc.aio call runs in its own task, so
the value cannot leak into another call). A call without a valid token is aborted with
UNAUTHENTICATED, its details naming the reason (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED,
TOKEN_REVOKED); the same reason travels as a google.rpc.ErrorInfo, so a `LoginSession` client
refreshes and retries on TOKEN_EXPIRED just as it does against userservice. If the keys cannot
be fetched, calls get UNAVAILABLE.

Handlers are wrapped once per method and reused; unary and streaming handlers keep their shape
(async generators stay generators, `context.write` coroutines stay coroutines).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any, Final, NoReturn, TypeAlias

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from userservice_client.errors import DETAILS_HEADER, ERROR_DOMAIN, UserServiceError
from userservice_client.verifier import TokenRejected, TokenVerifier, VerifiedToken

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Behavior: TypeAlias = Callable[[Any, Context], Any]
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]

TOKEN_MISSING: Final = "TOKEN_MISSING"  # noqa: S105 - an error reason, not a secret
_BEHAVIOR_FIELDS: Final = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
_current: ContextVar[VerifiedToken | None] = ContextVar("userservice_token", default=None)


def current_token() -> VerifiedToken | None:
    """The verified token of the call being handled (None in a public method)."""
    return _current.get()


def _rich_status(code: grpc.StatusCode, reason: str, message: str) -> tuple[tuple[str, bytes]]:
    """The trailer that carries a google.rpc.Status (gRPC's rich error model, what grpcio-status
    writes), built here so the client package needs no grpcio-status."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN))
    details = status_pb2.Status(code=code.value[0], message=message, details=[info])
    return ((DETAILS_HEADER, details.SerializeToString()),)


async def _abort(context: Context, code: grpc.StatusCode, reason: str) -> NoReturn:
    await context.abort(code, reason, _rich_status(code, reason, reason))
    raise AssertionError("unreachable: abort() raises")  # pragma: no cover


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Verifies `authorization: Bearer` on every call except `public_methods`.

    Args:
        verifier: the `TokenVerifier` that decides.
        public_methods: full method names ("/pkg.Service/Method") that need no token, e.g.
            "/grpc.health.v1.Health/Check".
    """

    def __init__(self, verifier: TokenVerifier, *, public_methods: Iterable[str] = frozenset()):
        self._verifier = verifier
        self._public = frozenset(public_methods)
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        """Returns the method's handler, wrapped so that each call is authenticated first."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in self._public:
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    async def _authenticate(self, context: Context) -> None:
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                scheme, _, token = str(value).partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID")
                break
        if not token:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, TOKEN_MISSING)
        try:
            verified = await self._verifier.verify(token.strip())
        except TokenRejected as rejected:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, rejected.reason)
        except UserServiceError:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, "TOKEN_VERIFICATION_UNAVAILABLE")
        _current.set(verified)

    def _wrap(self, handler: Handler) -> Handler:
        field = _BEHAVIOR_FIELDS[2 * handler.request_streaming + handler.response_streaming]
        behavior: Behavior = getattr(handler, field)
        authenticate = self._authenticate

        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                await authenticate(context)
                async for response in behavior(request, context):
                    yield response

            wrapped: Behavior = stream
        else:

            async def unary(request: Any, context: Context) -> Any:
                await authenticate(context)
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result

            wrapped = unary
        # RpcMethodHandler is a namedtuple at run time.
        replaced: Handler = handler._replace(**{field: wrapped})  # type: ignore[attr-defined]
        return replaced


__all__ = ["TokenAuthInterceptor", "current_token"]
