"""Client secrets of service accounts: how one is stored, and how a presented one is checked.

A client secret is 256 bits from the OS CSPRNG, shown once and stored as SHA-256 (nothing to
brute-force, so no slow hash), compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from server.domain import ServiceAccountRecord
from server.errors import Reason, Unauthenticated

DUMMY_HASH = hashlib.sha256(b"no such client").digest()


def invalid_client() -> Unauthenticated:
    # One answer for an unknown client id and a wrong secret: the caller learns nothing more.
    return Unauthenticated("invalid client id or secret", reason=Reason.INVALID_CREDENTIALS)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def secret_matches(record: ServiceAccountRecord, presented: bytes, now: dt.datetime) -> bool:
    current = hmac.compare_digest(presented, record.secret_hash)
    previous = (
        record.previous_secret_hash is not None
        and record.previous_secret_expires_at is not None
        and now < record.previous_secret_expires_at
        and hmac.compare_digest(presented, record.previous_secret_hash)
    )
    return current or previous


def whole_second(value: dt.datetime) -> dt.datetime:
    """Token iat is whole seconds: a revocation mark is compared at that precision."""
    return value.replace(microsecond=0)
