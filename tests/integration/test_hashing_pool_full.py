"""Logins beyond the hashing pool and its queue are refused at once (RESOURCE_EXHAUSTED,
PASSWORD_HASHING_BUSY, RetryInfo) while the admitted ones succeed; a login whose deadline would
pass in the queue is refused before anything is hashed. The pool's one thread is held by the
test (a gate), so which calls are admitted does not depend on timing."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import grpc.aio
from google.rpc import error_details_pb2
from prometheus_client.parser import text_string_to_metric_families

from server.app import Application
from server.security.hashing_admission import HashingAdmission, RefusalCause
from tests.support import servers
from tests.support.backends import Backend
from tests.support.flows import create_user, login
from tests.support.ports import free_port
from tests.support.rich_errors import rich_error
from tests.support.waiting import eventually
from userservice.v1 import auth_pb2

QUEUE = 1  # with one thread: two calls admitted at once
STORM = 8


def admission_of(app: Application) -> HashingAdmission:
    admission = app.services.hasher.admission
    assert admission is not None
    return admission


@asynccontextmanager
async def pool_held(app: Application) -> AsyncIterator[None]:
    """The hashing pool's only thread is busy until the block ends."""
    gate = threading.Event()
    held = app.services.hasher.executor.submit(gate.wait)
    try:
        yield
    finally:
        gate.set()
        await asyncio.wrap_future(held)


async def outcome(
    call: Awaitable[auth_pb2.TokenPair],
) -> auth_pb2.TokenPair | grpc.aio.AioRpcError:
    try:
        return await call
    except grpc.aio.AioRpcError as failed:
        return failed


def scraped(app: Application) -> dict[tuple[str, str], float]:
    """The hashing metrics on the metrics port: (name, cause label or "") → value."""
    port = app.metrics_port
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, sample.labels.get("cause", sample.labels.get("operation", ""))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(("userservice_hashing", "userservice_password_hashes"))
    }


def hashes_computed(metrics: dict[tuple[str, str], float]) -> float:
    """argon2id computations finished, every operation (hash, verify) together."""
    return sum(v for (name, _), v in metrics.items() if name == "userservice_password_hashes_total")


@asynccontextmanager
async def serving_one_thread(
    backend: Backend, tmp_path: Path, **overrides: object
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    settings = servers.settings_for_test(
        backend,
        tmp_path,
        hashing_threads=1,
        hashing_queue_per_thread=QUEUE,
        metrics_host="127.0.0.1",
        metrics_port=free_port(),
        **overrides,
    )
    async with servers.serving(settings) as running:
        yield running


async def test_logins_past_the_queue_are_refused_at_once_and_the_admitted_succeed(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving_one_thread(backend, tmp_path) as (app, channel):
        account = await create_user(channel)
        admission = admission_of(app)

        async with pool_held(app):
            barrier = asyncio.Event()

            async def one_login() -> auth_pb2.TokenPair | grpc.aio.AioRpcError:
                await barrier.wait()
                return await outcome(login(channel, account.email))

            calls = [asyncio.create_task(one_login()) for _ in range(STORM)]
            barrier.set()

            async def the_excess_answered() -> bool:
                return sum(call.done() for call in calls) >= STORM - 1 - QUEUE

            # Answered while the pool is still held: no refused call waited for a thread.
            await eventually(the_excess_answered, within=10, what="the excess logins answered")
            refused = [call.result() for call in calls if call.done()]
            assert admission.in_flight == 1 + QUEUE
            metrics = await asyncio.to_thread(scraped, app)
            assert metrics[("userservice_hashing_in_flight", "")] == 1 + QUEUE
            assert metrics[("userservice_hashing_refusals_total", "queue_full")] == len(refused)
        answers = [await call for call in calls]

    assert len(refused) == STORM - 1 - QUEUE
    assert sum(isinstance(a, auth_pb2.TokenPair) for a in answers) == 1 + QUEUE
    for failed in refused:
        assert isinstance(failed, grpc.aio.AioRpcError), "a login answered while none could hash"
        error = rich_error(failed)
        assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.error_info.reason == "PASSWORD_HASHING_BUSY"
        retry = error.detail(error_details_pb2.RetryInfo)
        assert retry is not None
        assert retry.retry_delay.ToTimedelta().total_seconds() > 0
    assert admission.refusals[RefusalCause.QUEUE_FULL] == STORM - 1 - QUEUE
    assert admission.in_flight == 0


async def test_a_login_whose_deadline_would_pass_in_the_queue_is_refused_before_hashing(
    backend: Backend, tmp_path: Path
) -> None:
    # A slow hash (~0.5 s here), so that the deadline the server must refuse is still long
    # enough for its answer to reach the client.
    async with serving_one_thread(backend, tmp_path, argon2_time_cost=30) as (app, channel):
        account = await create_user(channel)
        admission = admission_of(app)

        async with pool_held(app):
            queued = asyncio.ensure_future(login(channel, account.email))

            async def one_login_waiting() -> bool:
                return admission.pending_hashes == 1

            await eventually(one_login_waiting, within=10, what="a login waiting for the pool")
            hashes_before = hashes_computed(await asyncio.to_thread(scraped, app))
            # One hash ahead and its own: about two hash times; it may wait only 1.5.
            refused = await outcome(
                login(channel, account.email, rpc_timeout=1.5 * admission.hash_seconds)
            )
        await queued
        metrics = await asyncio.to_thread(scraped, app)

    assert isinstance(refused, grpc.aio.AioRpcError)
    error = rich_error(refused)
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.error_info.reason == "PASSWORD_HASHING_BUSY"
    assert metrics[("userservice_hashing_refusals_total", "deadline")] == 1
    # Nothing hashed for the refused login: only the queued one's verification was added.
    assert hashes_computed(metrics) == hashes_before + 1
