"""Service accounts: machine identities with client credentials and scopes."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass


class ServiceAccountState(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A machine identity: it authenticates with client credentials and holds scopes."""

    id: uuid.UUID
    client_id: str
    display_name: str
    scopes: tuple[str, ...]
    state: ServiceAccountState
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An account with its new client secret (shown once); after a rotation, until when the
    previous secret is still accepted."""

    account: ServiceAccount
    client_secret: str
    previous_secret_expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccountChanges:
    """The fields UpdateServiceAccount was asked to change (None: leave as is)."""

    display_name: str | None = None
    scopes: tuple[str, ...] | None = None
    state: ServiceAccountState | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccountRecord:
    """A service account with its credentials (hashes only) and its token-revocation mark:
    tokens issued at or before `tokens_revoked_at` (whole seconds) are refused."""

    account: ServiceAccount
    secret_hash: bytes
    previous_secret_hash: bytes | None = None
    previous_secret_expires_at: dt.datetime | None = None
    tokens_revoked_at: dt.datetime | None = None
