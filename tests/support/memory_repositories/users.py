"""The users repository in memory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

from server.domain import Cursor, Role, StoredUser, User, UserFilter, UserState, email_key
from server.repositories.conflicts import email_taken
from server.repositories.ids import new_id
from tests.support.memory_repositories.state import MemoryState, by_id, cursor_uuid


class MemoryUsers:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, user_id: uuid.UUID) -> StoredUser | None:
        return self._state.users.get(user_id)

    get_for_update = get  # transactions take turns: holding one is holding every lock

    async def get_by_email(self, email: str) -> StoredUser | None:
        users = self._state.users.values()
        exact = next((s for s in users if s.user.email == email), None)
        return exact or self._holder_of_key(email_key(email))

    def _holder_of_key(self, key: str) -> StoredUser | None:
        # No migration runs here, so every user's key is the one its email gives.
        return next((s for s in self._state.users.values() if email_key(s.user.email) == key), None)

    async def page(self, *, where: UserFilter, after: Cursor | None, limit: int) -> Sequence[User]:
        users = [s.user for s in self._state.users.values() if _matches(s.user, where)]
        if where.ordered_by_email:
            users = sorted((u for u in users if after is None or u.email > str(after)), key=_email)
        else:
            users = sorted(
                (u for u in users if after is None or u.id > cursor_uuid(after)), key=by_id
            )
        return users[:limit]

    async def add(
        self, *, email: str, password_hash: str, display_name: str, role: Role, now: dt.datetime
    ) -> User:
        if self._holder_of_key(email_key(email)) is not None:
            raise email_taken()
        user = User(new_id(), email, display_name, role, UserState.ACTIVE, False, now, now, 1)
        self._state.users[user.id] = StoredUser(user, password_hash)
        return user

    async def save(self, user: User) -> None:
        holder = self._holder_of_key(email_key(user.email))
        if holder is not None and holder.user.id != user.id:
            raise email_taken()
        stored = self._state.users[user.id]
        self._state.users[user.id] = dataclasses.replace(stored, user=user)

    async def replace_password_hash(self, user_id: uuid.UUID, *, current: str, new: str) -> bool:
        stored = self._state.users.get(user_id)
        if stored is None or stored.password_hash != current:
            return False
        self._state.users[user_id] = dataclasses.replace(stored, password_hash=new)
        return True

    async def delete(self, user_id: uuid.UUID) -> None:
        self._state.users.pop(user_id, None)
        for session in self._state.sessions.values():
            if session.user_id == user_id:  # ON DELETE SET NULL
                self._state.sessions[session.id] = dataclasses.replace(session, user_id=None)


def _matches(user: User, where: UserFilter) -> bool:
    return (
        (where.email_prefix is None or user.email.startswith(where.email_prefix))
        and (where.email_exact is None or user.email == where.email_exact)
        and (where.state is None or user.state is where.state)
    )


def _email(user: User) -> str:
    return user.email
