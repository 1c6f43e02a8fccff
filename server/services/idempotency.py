"""Idempotent requests: the first answer to a request_id is recorded in the transaction of its
effect, and a retry within a day gets that answer back instead of a second effect."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from server.domain import IdempotencyRecord
from server.errors import InvalidArgument, Reason
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
    def of(cls, operation: str, caller: str, request_id: str, *fields: str) -> IdempotentRequest:
        digest = hashlib.sha256("\x00".join(fields).encode()).digest()
        return cls(operation, caller, request_id, digest)

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
    if record.request_hash != request.fingerprint:
        raise InvalidArgument.for_field(
            "request_id",
            "was already used for a different request",
            reason=Reason.REQUEST_ID_REUSED,
        )
    return record.response
