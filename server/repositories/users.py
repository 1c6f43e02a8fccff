"""Users table access."""

from __future__ import annotations

import datetime as dt
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


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: uuid.UUID) -> UserRow | None:
        return await self._session.get(UserRow, user_id)

    async def get_for_update(self, user_id: uuid.UUID) -> UserRow | None:
        query = select(UserRow).where(UserRow.id == user_id).with_for_update()
        return (await self._session.execute(query)).scalar_one_or_none()

    async def page(
        self, *, after: uuid.UUID | None, limit: int, where: UserFilter
    ) -> Sequence[UserRow]:
        """Users in id order (ids are time-ordered UUIDv7s), after `after`, at most `limit`."""
        query = select(UserRow).order_by(UserRow.id).limit(limit)
        if after is not None:
            query = query.where(UserRow.id > after)
        if where.email_exact is not None:
            query = query.where(UserRow.email == where.email_exact)
        if where.email_prefix is not None:
            escaped = (
                where.email_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            )
            query = query.where(UserRow.email.like(f"{escaped}%", escape="\\"))
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
