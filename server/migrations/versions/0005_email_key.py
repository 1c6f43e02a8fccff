"""users.email_key: the look-alike-proof form of the address (NFKC + Unicode case folding),
unique, so the fullwidth-k `known@x.io`, `STRASSE@x.io` or upper-case Greek cannot register next to
`known@x.io`, `straße@x.io` or the lower-case Greek address.

Existing users are kept. The key is computed in Python (the database has no Unicode case
folding), in batches, oldest user first (by created_at, then id). When two existing users share
a key, the older one keeps it and each later one gets its key + "#" + its id, which no address
can produce (a key ends with its domain, and a domain has no "#"): both accounts stay, and each
still logs in with its exact address, which the repository looks up before the key. Every such
collision is logged with both ids (never the addresses).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from server.domain import email_key
from server.repositories.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH_SIZE = 1000

_log = logging.getLogger("userservice.migrations")
_users = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String(320)),
    sa.column("email_key", sa.Text()),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_key", sa.Text(), nullable=True))
    backfill(op.get_bind())
    with op.batch_alter_table("users") as batch:
        batch.alter_column("email_key", existing_type=sa.Text(), nullable=False)
        batch.create_index("ix_users_email_key", ["email_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_email_key")
        batch.drop_column("email_key")


def backfill(connection: sa.Connection) -> None:
    """Sets every user's email_key, a batch at a time in (created_at, id) order; the first user
    of a key keeps it (the keys seen so far are held in memory: one string per user)."""
    holders: dict[str, object] = {}
    after: tuple[object, object] | None = None
    while True:
        query = (
            sa.select(_users.c.id, _users.c.email, _users.c.created_at)
            .order_by(_users.c.created_at, _users.c.id)
            .limit(BATCH_SIZE)
        )
        if after is not None:
            last = sa.tuple_(sa.literal(after[0], UTCDateTime()), sa.literal(after[1], sa.Uuid()))
            query = query.where(sa.tuple_(_users.c.created_at, _users.c.id) > last)
        rows = connection.execute(query).all()
        if not rows:
            return
        updates = []
        for user_id, email, _created_at in rows:
            key = email_key(email)
            if key in holders:
                _log.warning(
                    "email_key collision: user %s gets a key of its own; user %s keeps the shared"
                    " one; each logs in with its exact address",
                    user_id,
                    holders[key],
                )
                key = f"{key}#{user_id}"
            else:
                holders[key] = user_id
            updates.append({"user_id": user_id, "key": key})
        connection.execute(
            _users.update().where(_users.c.id == sa.bindparam("user_id")),
            [{"user_id": u["user_id"], "email_key": u["key"]} for u in updates],
        )
        after = (rows[-1].created_at, rows[-1].id)
