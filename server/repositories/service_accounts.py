"""Service-accounts table access."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import ServiceAccount
from server.repositories.models import ServiceAccountRow


def to_service_account(row: ServiceAccountRow) -> ServiceAccount:
    return ServiceAccount(
        id=row.id,
        client_id=row.client_id,
        display_name=row.display_name,
        scopes=tuple(row.scopes.split()),
        state=row.state,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


class ServiceAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: ServiceAccountRow) -> None:
        self._session.add(row)

    async def get(self, account_id: uuid.UUID) -> ServiceAccountRow | None:
        return await self._session.get(ServiceAccountRow, account_id)

    async def get_for_update(self, account_id: uuid.UUID) -> ServiceAccountRow | None:
        query = select(ServiceAccountRow).where(ServiceAccountRow.id == account_id)
        return (await self._session.execute(query.with_for_update())).scalar_one_or_none()

    async def get_by_client_id(self, client_id: str) -> ServiceAccountRow | None:
        query = select(ServiceAccountRow).where(ServiceAccountRow.client_id == client_id)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def page(self, *, after: uuid.UUID | None, limit: int) -> Sequence[ServiceAccountRow]:
        query = select(ServiceAccountRow).order_by(ServiceAccountRow.id).limit(limit)
        if after is not None:
            query = query.where(ServiceAccountRow.id > after)
        return (await self._session.execute(query)).scalars().all()

    async def delete(self, row: ServiceAccountRow) -> None:
        await self._session.delete(row)
        await self._session.flush()
