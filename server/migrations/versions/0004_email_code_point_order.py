"""users.email sorts by code point (COLLATE "C") on PostgreSQL, so an email-prefix listing is one
range of the unique index, walked in order. SQLite's default BINARY collation already is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "users",
            "email",
            type_=sa.String(320, collation="C"),
            existing_type=sa.String(320),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "users",
            "email",
            type_=sa.String(320),
            existing_type=sa.String(320, collation="C"),
            existing_nullable=False,
        )
