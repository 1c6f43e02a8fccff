"""The event log (item 1 of issue 16): the purge records expiries and keeps the log within its
retention."""

from __future__ import annotations

import datetime as dt

import grpc

from server.app import Application
from server.domain import SYSTEM, EventType, NewEvent, Party
from server.services.maintenance import SESSION_RETENTION, purge_expired
from tests.support.accounts import insert_users
from tests.support.events import events_after, last_id
from tests.support.flows import unique_email


async def test_the_purge_records_expiries_and_drops_events_past_retention(
    app: Application, channel: grpc.aio.Channel
) -> None:
    [user_id] = await insert_users(app, [unique_email("expiry")])
    now = dt.datetime.now(dt.UTC)
    long_ago = now - SESSION_RETENTION - dt.timedelta(hours=1)
    async with app.services.units.transaction() as uow:
        session = await uow.sessions.start(
            user_id=user_id, now=long_ago, expires_at=long_ago, client_ip="", user_agent=""
        )
        for _ in range(3):
            uow.events.append(
                NewEvent(EventType.USER_UPDATED, long_ago, SYSTEM, None, "", "", {"old": True})
            )
    start = await last_id(app)

    purged = await purge_expired(
        app.services.units, now, batch_size=2, event_retention=dt.timedelta(days=1)
    )

    assert purged["sessions"] == 1
    assert purged["events"] >= 3
    remaining = await events_after(app)
    assert not [e for e in remaining if e.data.get("old")]
    expiry = [e for e in remaining if e.id > start]
    assert [(e.type, e.actor, e.target, e.data) for e in expiry] == [
        (
            "session.revoked",
            SYSTEM,
            Party.user(user_id),
            {"session_id": str(session.id), "why": "expiry"},
        )
    ]
