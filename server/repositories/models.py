"""Tables. PostgreSQL is the source of truth; SQLite serves the embedded development default.

Every timestamp is stored with its time zone and read back as UTC (SQLite drops the zone).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.domain import Role, ServiceAccountState, UserState


class UTCDateTime(TypeDecorator[dt.datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        uuid.UUID: Uuid(native_uuid=True),
    }


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as short strings with a CHECK constraint: portable, and easy to extend in a migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Code point order (PostgreSQL's "C"; SQLite's BINARY is already): a prefix is one index range.
    email: Mapped[str] = mapped_column(
        String(320).with_variant(String(320, collation="C"), "postgresql"), unique=True
    )
    # domain.email_key(email): look-alike spellings of one address share it, so its unique index
    # is what makes an address one account. Unbounded: NFKC can lengthen a string. A user who
    # collided with an older one when the column was added keeps a key of its own (see 0005).
    # `email` stays unique too: it is what a user types to log in, found by its own index first.
    email_key: Mapped[str] = mapped_column(Text, index=True, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    state: Mapped[UserState] = mapped_column(_enum(UserState, "user_state"))
    email_verified: Mapped[bool] = mapped_column(default=False)
    # Incremented on every change; the etag is derived from it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class SessionRow(Base):
    """One login: the refresh-token family and the access tokens issued from it."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index(None, "user_id", "created_at"),
        Index(None, "expires_at"),
        # Every replica reads recent revocations each second (the revocation backstop).
        Index(None, "revoked_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Null once the user is deleted: the revoked row stays until the purge, so the database
    # still knows the session is dead if Redis forgets (see migration 0002).
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(32))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")


class RefreshTokenRow(Base):
    """Every refresh token a session issued, by hash, so that a rotated one is known on reuse."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[dt.datetime]
    # Null while this is the session's current token.
    rotated_at: Mapped[dt.datetime | None]
    # Its successor, sealed under this token (security/tokens.py); kept only with a reuse grace.
    successor_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class IdempotencyRow(Base):
    """The first answer to a request that carried a request_id, kept for 24 hours."""

    __tablename__ = "idempotency_records"
    __table_args__ = (Index(None, "expires_at"),)

    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class ServiceAccountRow(Base):
    """A service account: client credentials (hashes only) and the scopes it may be granted."""

    __tablename__ = "service_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Space-separated, as in the token's `scope` claim.
    scopes: Mapped[str] = mapped_column(String(512))
    state: Mapped[ServiceAccountState] = mapped_column(
        _enum(ServiceAccountState, "service_account_state")
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # After a rotation, the previous secret is accepted until previous_secret_expires_at.
    previous_secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    previous_secret_expires_at: Mapped[dt.datetime | None]
    # Tokens issued at or before this second are refused (set on disable and on lost scopes).
    tokens_revoked_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


# SQLite makes only an INTEGER PRIMARY KEY the rowid (and AUTOINCREMENT needs it).
EVENT_ID = BigInteger().with_variant(Integer, "sqlite")


class EventRow(Base):
    """The event log (append-only; the purge deletes the oldest). The id is the stream's cursor:
    AUTOINCREMENT on SQLite so that an id is never reused, even after the newest rows are purged."""

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "created_at"),
        Index(None, "type", "id"),
        Index(None, "actor_id", "id"),
        Index(None, "target_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime]
    type: Mapped[str] = mapped_column(String(48))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str | None] = mapped_column(String(16))
    target_id: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What only notifications:read may see (one-time codes), sealed (security/sealing.py); null
    # for most events.
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


__all__ = [
    "Base",
    "EventRow",
    "IdempotencyRow",
    "RefreshTokenRow",
    "ServiceAccountRow",
    "SessionRow",
    "UserRow",
]
