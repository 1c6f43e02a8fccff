"""One-time codes (email verification, password reset; hashes only) and a user's pending email.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.repositories.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("pending_email", sa.String(320), nullable=True))
    op.create_table(
        "one_time_codes",
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_one_time_codes_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_one_time_codes"),
    )
    op.create_index("ix_one_time_codes_user_id", "one_time_codes", ["user_id"])
    op.create_index("ix_one_time_codes_expires_at", "one_time_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_table("one_time_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("pending_email")
