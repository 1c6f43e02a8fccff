"""The service-accounts repository in memory."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from server.domain import Cursor, ServiceAccount, ServiceAccountRecord, ServiceAccountState
from server.repositories.ids import new_id
from tests.support.memory_repositories.state import MemoryState, by_id, cursor_uuid


class MemoryServiceAccounts:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(
        self,
        *,
        client_id: str,
        display_name: str,
        scopes: tuple[str, ...],
        secret_hash: bytes,
        now: dt.datetime,
    ) -> ServiceAccount:
        account = ServiceAccount(
            new_id(), client_id, display_name, scopes, ServiceAccountState.ACTIVE, now, now, 1
        )
        self._state.service_accounts[account.id] = ServiceAccountRecord(account, secret_hash)
        return account

    async def get(self, account_id: uuid.UUID) -> ServiceAccountRecord | None:
        return self._state.service_accounts.get(account_id)

    get_for_update = get

    async def get_by_client_id(self, client_id: str) -> ServiceAccountRecord | None:
        accounts = self._state.service_accounts.values()
        return next((r for r in accounts if r.account.client_id == client_id), None)

    async def page(self, *, after: Cursor | None, limit: int) -> Sequence[ServiceAccount]:
        accounts = sorted((r.account for r in self._state.service_accounts.values()), key=by_id)
        return [a for a in accounts if after is None or a.id > cursor_uuid(after)][:limit]

    async def save(self, record: ServiceAccountRecord) -> None:
        self._state.service_accounts[record.account.id] = record

    async def delete(self, account_id: uuid.UUID) -> None:
        self._state.service_accounts.pop(account_id, None)
