"""The SDK's event stream (issue 16, item 6): `watch_events` resumes by itself from the last
cursor it yielded, across a server restart, with no gap and no duplicate; the blocking client
mirrors it; `list_events`/`iter_events` page through the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from server.app import Application, offline_services
from server.config import Settings
from server.domain import SYSTEM, EventType, NewEvent
from server.serving import EVENT_SERVICE
from server.wiring import Services
from tests.support.backends import Backend
from tests.support.events import DELIVERY_SECONDS, append_event
from tests.support.flows import PASSWORD, unique_email
from tests.support.ports import free_port
from tests.support.proxy import Mode, Proxy
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually
from userservice.v1 import events_pb2
from userservice_client import AsyncUserServiceClient, PermissionDeniedError, UserServiceClient

# The client retries at most every 5 s; a restart takes about a second.
RESUME_SECONDS = 20.0


@asynccontextmanager
async def server_on(settings: Settings) -> AsyncIterator[Application]:
    async with serving(settings) as (app, _channel):
        yield app


async def append_offline(services: Services, note: str) -> None:
    """An event committed while no server runs (as `create-admin` would record one)."""
    async with services.units.transaction() as uow:
        uow.events.append(
            NewEvent(
                EventType.USER_UPDATED,
                dt.datetime.now(dt.UTC),
                SYSTEM,
                None,
                "",
                "",
                {"note": note},
            )
        )


async def make_admin(app: Application) -> str:
    email = unique_email("admin")
    await app.services.users.bootstrap_admin(email=email, password=PASSWORD, display_name="A")
    return email


async def test_watch_events_resumes_across_a_server_restart_with_no_gap_and_no_duplicate(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, port=free_port())
    heard: list[events_pb2.Event] = []
    async with AsyncUserServiceClient(f"127.0.0.1:{settings.port}") as client:
        async with server_on(settings) as app:
            await client.login(await make_admin(app), PASSWORD)
            start = await append_event(app, data={"note": "start"})

            async def follow() -> None:
                async for event in client.watch_events(after=start):
                    heard.append(event)

            follower = asyncio.create_task(follow())
            for n in range(3):
                await append_event(app, data={"note": f"before {n}"})
            await until_heard(heard, 3)
        # The server is gone: the stream broke and the client is retrying.
        async with offline_services(settings) as services:
            for n in range(3):
                await append_offline(services, f"while down {n}")
        async with server_on(settings) as app:
            for n in range(3):
                await append_event(app, data={"note": f"after {n}"})
            await until_heard(heard, 9, within=RESUME_SECONDS)
            async with app.services.units.read() as uow:
                committed = await uow.events.after(start, types=frozenset(), limit=100)
        follower.cancel()
    assert [int(e.cursor) for e in heard] == [e.id for e in committed]
    assert [dict(e.data)["note"] for e in heard] == [
        *(f"before {n}" for n in range(3)),
        *(f"while down {n}" for n in range(3)),
        *(f"after {n}" for n in range(3)),
    ]


async def until_heard(
    heard: list[events_pb2.Event], count: int, *, within: float = DELIVERY_SECONDS
) -> None:
    async def enough() -> bool:
        return len(heard) >= count

    await eventually(enough, within=within, what=f"{count} events heard")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_blocking_client_watches_and_lists_events(
    app: Application, backend: Backend
) -> None:
    email = await make_admin(app)
    first = await append_event(app, data={"note": "one"})
    await append_event(app, data={"note": "two"})

    def as_admin() -> tuple[list[str], list[str]]:
        with UserServiceClient(f"127.0.0.1:{app.port}") as client:
            client.login(email, PASSWORD)
            watched = []
            for event in client.watch_events(after=first - 1):
                watched.append(dict(event.data)["note"])
                if len(watched) == 2:
                    break
            listed = [e.type for e in client.iter_events('type = "user.created"', page_size=1)]
            return watched, listed

    watched, listed = await asyncio.to_thread(as_admin)
    assert watched == ["one", "two"]
    assert listed == ["user.created"]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_watch_events_raises_what_a_retry_cannot_cure(app: Application) -> None:
    async with AsyncUserServiceClient(f"127.0.0.1:{app.port}") as client:
        email = unique_email("plain")
        await client.create_user(email, PASSWORD)
        await client.login(email, PASSWORD)
        with pytest.raises(PermissionDeniedError):
            async for _event in client.watch_events():
                pass


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_watch_events_resumes_after_the_connection_is_cut(app: Application) -> None:
    email = await make_admin(app)
    start = await append_event(app, data={"note": "start"})
    heard: list[events_pb2.Event] = []
    async with (
        Proxy("127.0.0.1", app.port) as proxy,
        AsyncUserServiceClient(f"127.0.0.1:{proxy.port}") as client,
    ):
        await client.login(email, PASSWORD)

        async def follow() -> None:
            async for event in client.watch_events(after=start, types=["user.updated"]):
                heard.append(event)

        follower = asyncio.create_task(follow())
        await append_event(app, data={"note": "one"})
        await until_heard(heard, 1)
        await proxy.set_mode(Mode.REFUSE)  # every connection dropped, none accepted
        await append_event(app, data={"note": "two"})
        await proxy.set_mode(Mode.FORWARD)
        await append_event(app, data={"note": "three"})
        await until_heard(heard, 3, within=RESUME_SECONDS)
        follower.cancel()
    assert [dict(e.data)["note"] for e in heard] == ["one", "two", "three"]
    opened = app.metrics.registry.get_sample_value(
        "grpc_server_started_total",
        {"grpc_type": "server_stream", "grpc_service": EVENT_SERVICE, "grpc_method": "WatchEvents"},
    )
    assert opened is not None
    assert opened >= 2  # the stream was cut and opened again
