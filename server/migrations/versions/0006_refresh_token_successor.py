"""refresh_tokens.successor_sealed: a rotated token keeps its successor, sealed under itself, so a
presentation within the reuse grace period answers with the same successor (one chain per
session, however many calls race). sessions.revoked_at is indexed: every replica reads the recent
revocations each second.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("successor_sealed", sa.LargeBinary(), nullable=True))
    op.create_index("ix_sessions_revoked_at", "sessions", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_revoked_at", table_name="sessions")
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("successor_sealed")
