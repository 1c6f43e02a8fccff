"""Users table access, in domain types."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence

from sqlalchemy import Update, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import Cursor, Role, StoredUser, User, UserFilter, UserState, email_key
from server.repositories.conflicts import email_taken
from server.repositories.ids import new_id
from server.repositories.models import UserRow


def to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        state=row.state,
        email_verified=row.email_verified,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _stored(row: UserRow | None) -> StoredUser | None:
    return None if row is None else StoredUser(to_user(row), row.password_hash, row.pending_email)


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix`, in code point order; None
    when there is none (the prefix is empty or all U+10FFFF)."""
    stem = prefix.rstrip(chr(sys.maxunicode))
    if not stem:
        return None
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip to U+E000
        following = 0xE000
    return stem[:-1] + chr(following)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: uuid.UUID) -> StoredUser | None:
        return _stored(await self._session.get(UserRow, user_id))

    async def versions(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The current version of each user that exists (a deleted one is absent)."""
        if not user_ids:
            return {}
        query = select(UserRow.id, UserRow.version).where(UserRow.id.in_(user_ids))
        return {row[0]: row[1] for row in await self._session.execute(query)}

    async def get_for_update(self, user_id: uuid.UUID) -> StoredUser | None:
        query = select(UserRow).where(UserRow.id == user_id).with_for_update()
        return _stored((await self._session.execute(query)).scalar_one_or_none())

    async def get_by_email(self, email: str) -> StoredUser | None:
        """The user with exactly this address, else the one whose email_key it shares (one
        round trip, both by index). Exact first: a user whose key was made distinct when
        look-alikes already existed (migration 0005) is still found by the address they use."""
        exact = UserRow.email == email
        query = (
            select(UserRow)
            .where(or_(exact, UserRow.email_key == email_key(email)))
            .order_by(case((exact, 0), else_=1))
            .limit(1)
        )
        return _stored((await self._session.execute(query)).scalar_one_or_none())

    async def page(self, *, where: UserFilter, after: Cursor | None, limit: int) -> Sequence[User]:
        """Ordered as `where.ordered_by_email` says: by id (time-ordered UUIDv7s), or by email.
        The email column sorts by code point (COLLATE "C" on PostgreSQL, BINARY on SQLite), so a
        prefix is one contiguous index range and a page reads only its own rows, however many
        users there are."""
        query = select(UserRow).limit(limit)
        if where.ordered_by_email:
            prefix = where.email_prefix or ""
            query = query.where(UserRow.email >= prefix).order_by(UserRow.email)
            if (bound := prefix_upper_bound(prefix)) is not None:
                query = query.where(UserRow.email < bound)
            if after is not None:
                query = query.where(UserRow.email > str(after))
        else:
            query = query.order_by(UserRow.id)
            if after is not None:
                query = query.where(UserRow.id > uuid.UUID(str(after)))
        if where.email_exact is not None:
            query = query.where(UserRow.email == where.email_exact)
        if where.state is not None:
            query = query.where(UserRow.state == where.state)
        return [to_user(row) for row in (await self._session.execute(query)).scalars()]

    async def add(
        self, *, email: str, password_hash: str, display_name: str, role: Role, now: dt.datetime
    ) -> User:
        row = UserRow(
            id=new_id(),
            email=email,
            email_key=email_key(email),
            password_hash=password_hash,
            display_name=display_name,
            role=role,
            state=UserState.ACTIVE,
            email_verified=False,
            version=1,
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        await self._flush()
        return to_user(row)

    async def save(self, user: User) -> None:
        await self._write(
            update(UserRow)
            .where(UserRow.id == user.id)
            .values(
                email=user.email,
                # Recomputed only when the address changes: a key made distinct by migration
                # 0005 stays so, or the user could not save anything else.
                email_key=case(
                    (UserRow.email == user.email, UserRow.email_key),
                    else_=email_key(user.email),
                ),
                display_name=user.display_name,
                role=user.role,
                state=user.state,
                email_verified=user.email_verified,
                version=user.version,
                updated_at=user.updated_at,
            )
        )

    async def replace_password_hash(self, user_id: uuid.UUID, *, current: str, new: str) -> bool:
        result = await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user_id, UserRow.password_hash == current)
            .values(password_hash=new)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_pending_email(self, user_id: uuid.UUID, email: str | None) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(pending_email=email)
        )

    async def delete(self, user_id: uuid.UUID) -> None:
        row = await self._session.get(UserRow, user_id)
        if row is not None:
            await self._session.delete(row)
            await self._session.flush()

    async def _flush(self) -> None:
        try:
            await self._session.flush()
        except IntegrityError:
            raise email_taken() from None

    async def _write(self, statement: Update) -> None:
        try:
            await self._session.execute(statement)
        except IntegrityError:
            raise email_taken() from None
