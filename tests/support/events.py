"""The event log as its readers meet it: a service account that may read it, a watcher that
takes the next events within a bound, events put straight into the log, and the log read
straight from the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import grpc.aio

from server.app import Application
from server.domain import SYSTEM, Event, EventType, NewEvent
from tests.support.flows import Caller, Metadata, auth, bearer
from userservice.v1 import auth_pb2, events_pb2, events_pb2_grpc, service_account_pb2_grpc
from userservice.v1 import service_account_pb2 as SA

if TYPE_CHECKING:
    from userservice.v1.events_pb2_grpc import EventServiceAsyncStub

# A watcher hears an event within milliseconds (Redis) or one poll interval (1 s) without it.
DELIVERY_SECONDS = 5.0


def events(channel: grpc.aio.Channel) -> EventServiceAsyncStub:
    return events_pb2_grpc.EventServiceStub(channel)


async def service_metadata(
    channel: grpc.aio.Channel, admin: Caller, scopes: Sequence[str]
) -> Metadata:
    """The bearer metadata of a new service account holding `scopes`."""
    made = await service_account_pb2_grpc.ServiceAccountServiceStub(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name="Reader", scopes=list(scopes)),
        metadata=admin.metadata,
    )
    pair = await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=made.service_account.client_id,
            client_secret=made.client_secret,
            scopes=list(scopes),
        )
    )
    return bearer(pair.access_token)


def watch(
    channel: grpc.aio.Channel,
    metadata: Metadata,
    after: str = "",
    types: Sequence[str] = (),
) -> grpc.aio.UnaryStreamCall[events_pb2.WatchEventsRequest, events_pb2.Event]:
    return events(channel).WatchEvents(
        events_pb2.WatchEventsRequest(after_cursor=after, types=list(types)), metadata=metadata
    )


async def take(
    stream: grpc.aio.UnaryStreamCall[events_pb2.WatchEventsRequest, events_pb2.Event],
    count: int,
    *,
    within: float = DELIVERY_SECONDS,
) -> list[events_pb2.Event]:
    """The next `count` events of the stream; fails the test if they do not come in time."""
    taken: list[events_pb2.Event] = []
    async with asyncio.timeout(within):
        while len(taken) < count:
            event = await stream.read()
            assert event is not grpc.aio.EOF, f"the stream ended after {len(taken)} events"
            taken.append(event)
    return taken


async def append_event(
    app: Application,
    type: EventType = EventType.USER_UPDATED,
    *,
    data: Mapping[str, str] | None = None,
    secret: Mapping[str, str] | None = None,
    at: dt.datetime | None = None,
) -> int:
    """One event straight into the log (as a service records it, outside any call); its id."""
    async with app.services.units.transaction() as uow:
        uow.events.append(
            NewEvent(
                type=type,
                created_at=at or dt.datetime.now(dt.UTC),
                actor=SYSTEM,
                target=None,
                client_ip="",
                request_id="",
                data=data or {},
                secret=secret or {},
            )
        )
    async with app.services.units.read() as uow:
        return await uow.events.last_id()


async def events_after(app: Application, cursor: int = 0) -> list[Event]:
    async with app.services.units.read() as uow:
        return list(await uow.events.after(cursor, types=frozenset(), limit=10_000))


async def last_id(app: Application) -> int:
    async with app.services.units.read() as uow:
        return await uow.events.last_id()
