"""Each user's serialized `User` message, so that a warm GetUser skips building and encoding it.

An entry keeps the exact `User` value it encodes and is served only for an equal value: the
same id, version and every field. It cannot serve a stale version whatever changed, or in which
order the caches heard of it (ARCHITECTURE.md, "User cache: versioned writes"): the service
decides which `User` the caller may see — self-or-admin, the versioned cache — and this only
remembers how that value looks on the wire. Every caller allowed to read a user sees the same
fields, so one encoding serves them all. A warm hit from the in-process replica returns the very
same object, so the check is an identity test.
"""

from __future__ import annotations

import uuid

from server.domain import User
from server.servicers.convert import user_to_proto


class EncodedUsers:
    def __init__(self, max_entries: int) -> None:
        self._max_entries = max(1, max_entries)
        self._entries: dict[uuid.UUID, tuple[User, bytes]] = {}

    def encode(self, user: User) -> bytes:
        entry = self._entries.get(user.id)
        if entry is not None and (entry[0] is user or entry[0] == user):
            return entry[1]
        encoded = user_to_proto(user).SerializeToString()
        if entry is None and len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest entry
        self._entries[user.id] = (user, encoded)
        return encoded
