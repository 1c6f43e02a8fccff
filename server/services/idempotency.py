"""Idempotent requests: the first answer to a request_id is recorded in the transaction of its
effect, and a retry within a day gets that answer back instead of a second effect.

The fingerprint covers the whole request, the password included, as an HMAC under a server key:
a replay that differs in anything (another password too) is refused, and the table holds nothing
from which a password could be tested offline. Records from before the password was covered
simply mismatch: REQUEST_ID_REUSED, never a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from server.domain import IdempotencyRecord
from server.errors import AlreadyExists, Reason
from server.services.unit_of_work import UnitOfWorkFactory

IDEMPOTENCY_TTL = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    operation: str
    caller: str
    request_id: str
    # A digest of what was asked: the same request_id with another request is refused.
    fingerprint: bytes

    @classmethod
    def of(
        cls, key: bytes, operation: str, caller: str, request_id: str, *fields: str
    ) -> IdempotentRequest:
        """`fields`: every part of the request, in a fixed order; `key`: see `fingerprint_key`."""
        mac = hmac.new(key, digestmod=hashlib.sha256)
        for value in (operation, *fields):
            encoded = value.encode("utf-8", "surrogatepass")
            # Length-prefixed, so no two different field lists encode alike.
            mac.update(len(encoded).to_bytes(8, "big") + encoded)
        return cls(operation, caller, request_id, mac.digest())

    def answered(self, response: bytes, now: dt.datetime) -> IdempotencyRecord:
        return IdempotencyRecord(
            operation=self.operation,
            caller=self.caller,
            request_id=self.request_id,
            request_hash=self.fingerprint,
            response=response,
            created_at=now,
            expires_at=now + IDEMPOTENCY_TTL,
        )


async def recorded_answer(
    units: UnitOfWorkFactory, request: IdempotentRequest, now: dt.datetime
) -> bytes | None:
    """The answer recorded for the request, if it is still kept; REQUEST_ID_REUSED when its
    request_id was used for a different request."""
    async with units.read() as uow:
        record = await uow.idempotency.get(request.operation, request.caller, request.request_id)
    if record is None or record.expires_at <= now:
        return None
    if not hmac.compare_digest(record.request_hash, request.fingerprint):
        raise request_id_reused()
    return record.response


def request_id_reused() -> AlreadyExists:
    return AlreadyExists(
        "request_id: was already used for a different request; use a new one",
        reason=Reason.REQUEST_ID_REUSED,
    )


def fingerprint_key(server_secret: bytes) -> bytes:
    """The HMAC key of request fingerprints, derived from a server secret (the page-token
    secret) so that no new setting is needed and the two uses never share a key."""
    return hmac.new(server_secret, b"userservice idempotency fingerprint v1", "sha256").digest()
