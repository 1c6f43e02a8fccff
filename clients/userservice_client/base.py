"""What every client method builds on: the channel, the stubs, and the call machinery."""

# ruff: noqa: ASYNC109 - `timeout` is the gRPC deadline of the call, as in grpc's own API

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

import grpc.aio

from userservice.v1 import auth_pb2, auth_pb2_grpc, events_pb2_grpc, user_pb2_grpc
from userservice_client.calls import Metadata, invoke
from userservice_client.channel import ChannelOption, TlsOptions, create_channel
from userservice_client.credentials import Credentials

if TYPE_CHECKING:
    from userservice.v1.auth_pb2_grpc import AuthServiceAsyncStub
    from userservice.v1.events_pb2_grpc import EventServiceAsyncStub
    from userservice.v1.user_pb2_grpc import UserServiceAsyncStub

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


@dataclass(frozen=True, slots=True)
class _Stubs:
    channel: grpc.aio.Channel
    users: UserServiceAsyncStub
    auth: AuthServiceAsyncStub
    events: EventServiceAsyncStub


class ClientBase(abc.ABC):
    """One channel, opened on first use (or by `async with`) and shared by every call."""

    def __init__(
        self,
        target: str,
        *,
        credentials: Credentials | None = None,
        tls: TlsOptions | None = None,
        timeout: float = 5.0,
        options: Sequence[ChannelOption] = (),
    ) -> None:
        self._target = target
        self._tls = tls
        self._options = tuple(options)
        self._timeout = timeout
        self.credentials: Credentials | None = credentials
        """How calls authenticate; replace it at any time (`login()` does)."""
        self._stubs: _Stubs | None = None
        self._closed = False

    @property
    def target(self) -> str:
        """The address this client calls."""
        return self._target

    @property
    def timeout(self) -> float:
        """The default deadline of a call, in seconds."""
        return self._timeout

    @property
    def channel(self) -> grpc.aio.Channel:
        """The underlying channel (opened on first use), e.g. for the health service."""
        return self._open().channel

    def _open(self) -> _Stubs:
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        if self._stubs is None:
            channel = create_channel(self._target, tls=self._tls, options=self._options)
            self._stubs = _Stubs(
                channel,
                user_pb2_grpc.UserServiceStub(channel),
                auth_pb2_grpc.AuthServiceStub(channel),
                events_pb2_grpc.EventServiceStub(channel),
            )
        return self._stubs

    @property
    def _users(self) -> UserServiceAsyncStub:
        return self._open().users

    @property
    def _auth(self) -> AuthServiceAsyncStub:
        return self._open().auth

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled. Safe to call twice."""
        self._closed = True
        if self._stubs is not None:
            stubs, self._stubs = self._stubs, None
            await stubs.channel.close(None)

    @abc.abstractmethod
    async def refresh_token(
        self, refresh_token: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.TokenPair:
        """Rotates a refresh token (what `LoginSession` needs of the client)."""

    @abc.abstractmethod
    async def issue_service_token(
        self,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> auth_pb2.TokenPair:
        """A service account's access token (what `ServiceCredentials` needs of the client)."""

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ResponseT],
        request: RequestT,
        timeout: float | None,
        metadata: Metadata,
        *,
        authenticated: bool = True,
    ) -> ResponseT:
        return await invoke(
            method,
            request,
            timeout=self._timeout if timeout is None else timeout,
            metadata=metadata,
            credentials=self.credentials if authenticated else None,
            token_client=self,
        )
