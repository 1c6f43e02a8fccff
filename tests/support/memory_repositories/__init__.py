"""Dict-backed repositories over one `MemoryState`: the in-memory twins of server/repositories/,
raising the same domain errors (a taken email is AlreadyExists EMAIL_TAKEN). One module per
repository family, as there."""

from tests.support.memory_repositories.idempotency import MemoryIdempotency
from tests.support.memory_repositories.service_accounts import MemoryServiceAccounts
from tests.support.memory_repositories.sessions import MemoryRefreshTokens, MemorySessions
from tests.support.memory_repositories.state import MemoryState
from tests.support.memory_repositories.users import MemoryUsers

__all__ = [
    "MemoryIdempotency",
    "MemoryRefreshTokens",
    "MemoryServiceAccounts",
    "MemorySessions",
    "MemoryState",
    "MemoryUsers",
]
