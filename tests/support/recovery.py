"""Account recovery as a notification service sees it: the codes read from the event stream."""

from __future__ import annotations

import grpc
import grpc.aio

from server.app import Application
from tests.support.events import service_metadata, take, watch
from tests.support.flows import Caller, auth
from userservice.v1 import auth_pb2, events_pb2

RESET = "password.reset_requested"
VERIFY = "email.verification_requested"


async def notifier(channel: grpc.aio.Channel, admin: Caller) -> tuple[tuple[str, str], ...]:
    return await service_metadata(channel, admin, ["events:read", "notifications:read"])


async def last_cursor(app: Application) -> str:
    async with app.services.units.read() as uow:
        return str(await uow.events.last_id())


async def next_code(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], after: str, kind: str
) -> events_pb2.Event:
    stream = watch(channel, metadata, after, types=[kind])
    try:
        [event] = await take(stream, 1)
    finally:
        stream.cancel()
    assert event.secret["code"]
    return event


async def reset_code(
    app: Application, channel: grpc.aio.Channel, who: Caller, admin: Caller
) -> str:
    watcher, after = await notifier(channel, admin), await last_cursor(app)
    await auth(channel).RequestPasswordReset(
        auth_pb2.RequestPasswordResetRequest(email=who.account.email)
    )
    event = await next_code(channel, watcher, after, RESET)
    assert event.target.id == who.id
    return event.secret["code"]


async def next_code_free(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], after: str
) -> events_pb2.Event:
    stream = watch(channel, metadata, after, types=["email.change_requested"])
    try:
        [event] = await take(stream, 1)
    finally:
        stream.cancel()
    return event
