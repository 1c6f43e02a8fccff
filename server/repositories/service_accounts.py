"""Service-accounts table access, in domain types."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import Cursor, ServiceAccount, ServiceAccountRecord, ServiceAccountState
from server.repositories.ids import new_id
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


def _record(row: ServiceAccountRow | None) -> ServiceAccountRecord | None:
    if row is None:
        return None
    return ServiceAccountRecord(
        account=to_service_account(row),
        secret_hash=row.secret_hash,
        previous_secret_hash=row.previous_secret_hash,
        previous_secret_expires_at=row.previous_secret_expires_at,
        tokens_revoked_at=row.tokens_revoked_at,
    )


def _columns(record: ServiceAccountRecord) -> dict[str, object]:
    """The mutable columns of a record (id, client_id and created_at never change)."""
    account = record.account
    return {
        "display_name": account.display_name,
        # Space-separated, as in the token's `scope` claim.
        "scopes": " ".join(account.scopes),
        "state": account.state,
        "secret_hash": record.secret_hash,
        "previous_secret_hash": record.previous_secret_hash,
        "previous_secret_expires_at": record.previous_secret_expires_at,
        "tokens_revoked_at": record.tokens_revoked_at,
        "version": account.version,
        "updated_at": account.updated_at,
    }


class ServiceAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        client_id: str,
        display_name: str,
        scopes: tuple[str, ...],
        secret_hash: bytes,
        now: dt.datetime,
    ) -> ServiceAccount:
        row = ServiceAccountRow(
            id=new_id(),
            client_id=client_id,
            display_name=display_name,
            scopes=" ".join(scopes),
            state=ServiceAccountState.ACTIVE,
            secret_hash=secret_hash,
            previous_secret_hash=None,
            previous_secret_expires_at=None,
            tokens_revoked_at=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return to_service_account(row)

    async def get(self, account_id: uuid.UUID) -> ServiceAccountRecord | None:
        return _record(await self._session.get(ServiceAccountRow, account_id))

    async def get_for_update(self, account_id: uuid.UUID) -> ServiceAccountRecord | None:
        query = select(ServiceAccountRow).where(ServiceAccountRow.id == account_id)
        return _record((await self._session.execute(query.with_for_update())).scalar_one_or_none())

    async def get_by_client_id(self, client_id: str) -> ServiceAccountRecord | None:
        query = select(ServiceAccountRow).where(ServiceAccountRow.client_id == client_id)
        return _record((await self._session.execute(query)).scalar_one_or_none())

    async def page(self, *, after: Cursor | None, limit: int) -> Sequence[ServiceAccount]:
        query = select(ServiceAccountRow).order_by(ServiceAccountRow.id).limit(limit)
        if after is not None:
            query = query.where(ServiceAccountRow.id > uuid.UUID(str(after)))
        return [to_service_account(row) for row in (await self._session.execute(query)).scalars()]

    async def save(self, record: ServiceAccountRecord) -> None:
        await self._session.execute(
            update(ServiceAccountRow)
            .where(ServiceAccountRow.id == record.account.id)
            .values(**_columns(record))
        )

    async def delete(self, account_id: uuid.UUID) -> None:
        await self._session.execute(
            delete(ServiceAccountRow).where(ServiceAccountRow.id == account_id)
        )
