"""Events between replicas: a watcher on B hears what A commits, by the Redis events channel
within milliseconds, and by its database poll while Redis is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc.aio

from server.app import Application
from tests.support.backends import Backend, postgres_database
from tests.support.events import append_event, take, watch
from tests.support.flows import signed_in_admin
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually

Replica = tuple[Application, grpc.aio.Channel]
# Long enough that only the Redis message can wake B's watcher within the delivery bound.
NO_POLL_SECONDS = 600.0


@asynccontextmanager
async def replicas(
    workdir: Path, **b_overrides: Any
) -> AsyncIterator[tuple[PrivateRedis, Replica, Replica]]:
    """A and B on one PostgreSQL database and one private Redis, sharing the signing keys."""
    async with (
        private_redis(workdir / "redis") as redis_server,
        postgres_database() as database_url,
        AsyncExitStack() as stack,
    ):
        backend = Backend("postgres", database_url, redis_server.url, "events:")
        keys_dir = workdir / "keys"
        a = await stack.enter_async_context(
            serving(settings_for_test(backend, workdir / "a", keys_dir=keys_dir))
        )
        b = await stack.enter_async_context(
            serving(settings_for_test(backend, workdir / "b", keys_dir=keys_dir, **b_overrides))
        )
        yield redis_server, a, b


async def live(app: Application) -> None:
    async def subscribed() -> bool:
        return app.services.replica.live

    await eventually(subscribed, within=5.0, what="the replica subscribed to the events channel")


async def test_an_event_committed_on_a_wakes_a_watcher_on_b_through_redis(tmp_path: Path) -> None:
    async with replicas(tmp_path, event_poll_seconds=NO_POLL_SECONDS) as (_redis, a, b):
        (app_a, _), (app_b, channel_b) = a, b
        await live(app_b)
        admin = await signed_in_admin(app_b, channel_b)
        stream = watch(channel_b, admin.metadata, after=str(await append_event(app_b)))
        marker = await append_event(app_b)
        assert [int(e.cursor) for e in await take(stream, 1)] == [marker]  # following now

        written_on_a = await append_event(app_a, data={"from": "a"})

        [heard] = await take(stream, 1)
        assert (int(heard.cursor), dict(heard.data)) == (written_on_a, {"from": "a"})
        stream.cancel()


async def test_with_redis_down_a_watcher_on_b_still_gets_events_by_its_poll(
    tmp_path: Path,
) -> None:
    async with replicas(tmp_path, event_poll_seconds=0.2) as (redis_server, a, b):
        (app_a, _), (app_b, channel_b) = a, b
        admin = await signed_in_admin(app_b, channel_b)
        stream = watch(channel_b, admin.metadata, after=str(await append_event(app_b)))
        await redis_server.kill()

        written = [await append_event(app_a, data={"n": str(n)}) for n in range(3)]

        heard = await take(stream, 3)
        assert [int(e.cursor) for e in heard] == written
        stream.cancel()
