"""The periodic purge works off any backlog in bounded batches and exports its progress.

A backlog of expired sessions (with refresh tokens), sessions revoked long ago and expired
idempotency records is inserted in bulk; one pass deletes all of it, never more than the batch
size in one statement, keeps every live row, and counts what it deleted in
`userservice_purged_rows_total{table}`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from server.app import Application
from server.config import Settings
from server.repositories.ids import new_id
from server.repositories.models import IdempotencyRow, RefreshTokenRow, SessionRow
from server.services.maintenance import SESSION_RETENTION, purge_expired
from tests.support.accounts import insert_users
from tests.support.backends import Backend
from tests.support.flows import unique_email
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually

BATCH_SIZE = 1000
# PostgreSQL takes the size the issue was about in seconds; SQLite, the development default, less.
EXPIRED_SESSIONS = {"postgres": 60_000, "embedded": 6_000}
TOKENS_PER_EXPIRED_SESSION = 1
REVOKED_SESSIONS = 1_500
LIVE_SESSIONS = 50
EXPIRED_RECORDS = 2_500
LIVE_RECORDS = 20
INSERT_CHUNK = 5_000
TABLES = ("refresh_tokens", "sessions", "idempotency_records")


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return settings_for_test(backend, tmp_path, purge_batch_size=BATCH_SIZE)


def _session(user_id: uuid.UUID, *, expires_at: dt.datetime, revoked_at: dt.datetime | None) -> Any:
    created = min(expires_at, revoked_at or expires_at) - dt.timedelta(days=30)
    return {
        "id": new_id(),
        "user_id": user_id,
        "created_at": created,
        "last_used_at": created,
        "expires_at": expires_at,
        "revoked_at": revoked_at,
        "revoke_reason": "logout" if revoked_at else None,
        "client_ip": "",
        "user_agent": "",
    }


def _record(number: int, *, expires_at: dt.datetime) -> dict[str, Any]:
    return {
        "operation": "CreateUser",
        "caller": "bulk",
        "request_id": f"request-{number}",
        "request_hash": hashlib.sha256(str(number).encode()).digest(),
        "response": b"",
        "created_at": expires_at - dt.timedelta(days=1),
        "expires_at": expires_at,
    }


async def _insert(app: Application, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        async with app.services.db.transaction() as session:
            await session.execute(insert(table), rows[start : start + INSERT_CHUNK])


async def insert_backlog(
    app: Application, now: dt.datetime, expired_sessions: int
) -> set[uuid.UUID]:
    """The backlog, plus live rows; the ids of the live sessions."""
    [user_id] = await insert_users(app, [unique_email("backlog")])
    long_ago = now - SESSION_RETENTION - dt.timedelta(hours=1)
    later = now + dt.timedelta(days=7)
    expired = [
        _session(user_id, expires_at=long_ago, revoked_at=None) for _ in range(expired_sessions)
    ]
    revoked = [
        _session(user_id, expires_at=later, revoked_at=long_ago) for _ in range(REVOKED_SESSIONS)
    ]
    # Within the retention: expired or revoked an hour ago still answers "revoked" on reuse.
    live = [_session(user_id, expires_at=later, revoked_at=None) for _ in range(LIVE_SESSIONS)]
    live += [_session(user_id, expires_at=now - dt.timedelta(hours=1), revoked_at=None)]
    live += [_session(user_id, expires_at=later, revoked_at=now - dt.timedelta(hours=1))]
    await _insert(app, SessionRow, expired + revoked + live)
    tokens = [
        {"token_hash": hashlib.sha256(f"{s['id']}-{n}".encode()).digest(), "session_id": s["id"]}
        for s in expired + live
        for n in range(TOKENS_PER_EXPIRED_SESSION)
    ]
    await _insert(app, RefreshTokenRow, [{**t, "issued_at": long_ago} for t in tokens])
    records = [_record(n, expires_at=now - dt.timedelta(minutes=1)) for n in range(EXPIRED_RECORDS)]
    records += [
        _record(EXPIRED_RECORDS + n, expires_at=now + dt.timedelta(hours=1))
        for n in range(LIVE_RECORDS)
    ]
    await _insert(app, IdempotencyRow, records)
    return {s["id"] for s in live}


async def count(app: Application, column: Any) -> int:
    async with app.services.db.read() as session:
        return int((await session.execute(select(func.count(column)))).scalar_one())


def purged_total(app: Application, table: str) -> float:
    value = app.metrics.registry.get_sample_value("userservice_purged_rows_total", {"table": table})
    return value or 0.0


@pytest.mark.slow  # a backlog of thousands of rows, on each backend
async def test_one_pass_purges_a_backlog_in_bounded_batches_and_keeps_live_rows(
    app: Application, backend: Backend
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = EXPIRED_SESSIONS[backend.name]
    live = await insert_backlog(app, now, expired)
    batches: dict[str, list[int]] = defaultdict(list)

    def progress(table: str, rows: int) -> None:
        batches[table].append(rows)
        app.metrics.count_purged(table, rows)

    purged = await purge_expired(
        app.services.units, now, batch_size=app.settings.purge_batch_size, progress=progress
    )

    assert purged == {
        "refresh_tokens": expired * TOKENS_PER_EXPIRED_SESSION,
        "sessions": expired + REVOKED_SESSIONS,
        "idempotency_records": EXPIRED_RECORDS,
        "events": 0,  # none older than the retention; the expired sessions' events are new
    }
    for table in TABLES:
        assert max(batches[table]) <= BATCH_SIZE, table
        assert sum(batches[table]) == purged[table] == purged_total(app, table), table
    assert len(batches["sessions"]) > (expired + REVOKED_SESSIONS) // BATCH_SIZE
    async with app.services.db.read() as session:
        remaining = set((await session.execute(select(SessionRow.id))).scalars())
    assert remaining == live
    assert await count(app, RefreshTokenRow.token_hash) == len(live) * TOKENS_PER_EXPIRED_SESSION
    assert await count(app, IdempotencyRow.request_id) == LIVE_RECORDS


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_purge_runs_every_interval_and_counts_what_it_deleted(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, purge_interval_seconds=0.2, purge_batch_size=7)
    async with serving(settings) as (app, _channel):
        now = dt.datetime.now(dt.UTC)
        long_ago = now - SESSION_RETENTION - dt.timedelta(hours=1)
        [user_id] = await insert_users(app, [unique_email("periodic")])
        expired = [_session(user_id, expires_at=long_ago, revoked_at=None) for _ in range(30)]
        await _insert(app, SessionRow, expired)

        async def all_purged() -> bool:
            return await count(app, SessionRow.id) == 0 and purged_total(app, "sessions") == 30

        await eventually(all_purged, within=10.0, what="the periodic purge of 30 sessions")
