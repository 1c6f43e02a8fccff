"""What the call pipeline knows about a method, and how it swaps a handler's behaviour.

Server-streaming behaviours come in two shapes (async generators, and coroutines that call
`context.write`, such as the health servicer's Watch); the pipeline's stream guard
(server/rpc/streams.py) turns both into the second, so one wrapper fits every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeVar

import grpc

from server.rpc.call_context import ServicerContext

Behavior: TypeAlias = Callable[[Any, ServicerContext], Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

_PRESERIALIZED: Final = "_returns_serialized_response"
_Method = TypeVar("_Method", bound=Callable[..., Any])

_BEHAVIOR_FIELDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
_GRPC_TYPES = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What is known about a method before any call of it runs."""

    full_method: str  # "/userservice.v1.UserService/GetUser"
    service: str  # "userservice.v1.UserService"
    method: str  # "GetUser"
    grpc_type: str  # unary | server_stream | client_stream | bidi_stream

    @classmethod
    def of(cls, full_method: str, handler: Handler) -> CallInfo:
        service, _, method = full_method.lstrip("/").rpartition("/")
        kind = _GRPC_TYPES[(handler.request_streaming, handler.response_streaming)]
        return cls(full_method, service or "unknown", method or full_method, kind)


def behavior_field(handler: Handler) -> str:
    return _BEHAVIOR_FIELDS[2 * handler.request_streaming + handler.response_streaming]


def behavior_of(handler: Handler) -> Behavior:
    behavior: Behavior = getattr(handler, behavior_field(handler))
    return behavior


def replace_behavior(handler: Handler, behavior: Behavior, **fields: Any) -> Handler:
    """A copy of `handler` (a namedtuple at run time) with its behaviour replaced."""
    replaced: Handler = handler._replace(  # type: ignore[attr-defined]
        **{behavior_field(handler): behavior}, **fields
    )
    return replaced


def preserialized(method: _Method) -> _Method:
    """Marks a unary servicer method that returns its response already serialized (`bytes`):
    the pipeline registers it without a response serializer, so a cached encoding is sent as it
    is."""
    setattr(method, _PRESERIALIZED, True)
    return method


def returns_serialized(behavior: Behavior) -> bool:
    return bool(getattr(behavior, _PRESERIALIZED, False))
