"""Users table access."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import Role, User, UserFilter, UserState
from server.errors import AlreadyExists
from server.repositories.ids import new_id
from server.repositories.models import UserRow


def email_taken() -> AlreadyExists:
    return AlreadyExists("a user with this email already exists", reason="EMAIL_TAKEN")


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

    async def get(self, user_id: uuid.UUID) -> UserRow | None:
        return await self._session.get(UserRow, user_id)

    async def get_for_update(self, user_id: uuid.UUID) -> UserRow | None:
        query = select(UserRow).where(UserRow.id == user_id).with_for_update()
        return (await self._session.execute(query)).scalar_one_or_none()

    async def page(
        self, *, after: str | uuid.UUID | None, limit: int, where: UserFilter
    ) -> Sequence[UserRow]:
        """At most `limit` users after the cursor `after`, in the order `where.order_key` names:
        ids (time-ordered UUIDv7s), or emails for an email-prefix filter. The email column sorts
        by code point (COLLATE "C" on PostgreSQL, BINARY on SQLite), so a prefix is one contiguous
        index range and a page reads only its own rows, however many users there are."""
        query = select(UserRow).limit(limit)
        if where.email_prefix is not None:
            query = query.where(UserRow.email >= where.email_prefix).order_by(UserRow.email)
            if (bound := prefix_upper_bound(where.email_prefix)) is not None:
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
        return list((await self._session.execute(query)).scalars())

    async def delete(self, row: UserRow) -> None:
        await self._session.delete(row)
        await self._session.flush()

    async def flush_changes(self) -> None:
        try:
            await self._session.flush()
        except IntegrityError:
            raise email_taken() from None

    async def get_by_email(self, email: str) -> UserRow | None:
        result = await self._session.execute(select(UserRow).where(UserRow.email == email))
        return result.scalar_one_or_none()

    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        display_name: str,
        role: Role,
        now: dt.datetime,
    ) -> UserRow:
        row = UserRow(
            id=new_id(),
            email=email,
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
        try:
            await self._session.flush()
        except IntegrityError:
            raise email_taken() from None
        return row
