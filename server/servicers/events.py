"""userservice.v1.EventService (administrators and events:read services, per the policy table)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import struct_pb2

from server.domain import Event, Party, PartyKind, Principal
from server.rpc.authentication import bearer_token
from server.rpc.call_context import ServicerContext, authenticated_principal
from server.servicers.convert import timestamp
from server.services.auth import AuthService
from server.services.events import EventService
from userservice.v1 import events_pb2, events_pb2_grpc

_KIND_TO_PROTO = {
    PartyKind.USER: events_pb2.Event.Party.KIND_USER,
    PartyKind.SERVICE_ACCOUNT: events_pb2.Event.Party.KIND_SERVICE_ACCOUNT,
    PartyKind.SYSTEM: events_pb2.Event.Party.KIND_SYSTEM,
    PartyKind.ANONYMOUS: events_pb2.Event.Party.KIND_ANONYMOUS,
}


def _party(party: Party | None) -> events_pb2.Event.Party | None:
    return (
        None
        if party is None
        else events_pb2.Event.Party(kind=_KIND_TO_PROTO[party.kind], id=party.id)
    )


def event_to_proto(event: Event) -> events_pb2.Event:
    data = struct_pb2.Struct()
    data.update(
        {key: list(v) if isinstance(v, list | tuple) else v for key, v in event.data.items()}
    )
    return events_pb2.Event(
        cursor=str(event.id),
        type=event.type,
        create_time=timestamp(event.created_at),
        actor=_party(event.actor),
        target=_party(event.target),
        client_ip=event.client_ip,
        request_id=event.request_id,
        data=data,
        secret=dict(event.secret),
    )


class EventServicer(events_pb2_grpc.EventServiceServicer):
    def __init__(self, events: EventService, auth: AuthService) -> None:
        self._events = events
        self._auth = auth

    async def WatchEvents(
        self, request: events_pb2.WatchEventsRequest, context: ServicerContext
    ) -> AsyncIterator[events_pb2.Event]:
        token = next(
            bearer_token(value)
            for key, value in context.invocation_metadata() or ()
            if key == "authorization"
        )  # the pipeline admitted the call with it

        async def still_allowed() -> Principal:
            return await self._auth.authenticate(token)

        stream = self._events.watch_events(
            after_cursor=request.after_cursor,
            types=list(request.types),
            principal=authenticated_principal(),
            still_allowed=still_allowed,
        )
        async for event in stream:
            yield event_to_proto(event)

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: ServicerContext
    ) -> events_pb2.ListEventsResponse:
        events, next_token = await self._events.list_events(
            size=request.page_size,
            token=request.page_token,
            filter_text=request.filter,
            principal=authenticated_principal(),
        )
        return events_pb2.ListEventsResponse(
            events=[event_to_proto(e) for e in events], next_page_token=next_token
        )
