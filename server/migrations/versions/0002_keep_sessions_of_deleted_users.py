"""Keep the sessions of a deleted user (revoked, user_id cleared) until the periodic purge.

Deleting a user used to delete its sessions with it. Their revocations then lived only in Redis,
so a Redis restart inside an access token's lifetime, followed by the resync from the database,
forgot them. The rows now stay, revoked, so the database remembers every revocation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("fk_sessions_user_id_users", type_="foreignkey")
        batch.alter_column("user_id", nullable=True)
        batch.create_foreign_key(
            "fk_sessions_user_id_users", "users", ["user_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    op.execute("DELETE FROM sessions WHERE user_id IS NULL")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("fk_sessions_user_id_users", type_="foreignkey")
        batch.alter_column("user_id", nullable=False)
        batch.create_foreign_key(
            "fk_sessions_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
