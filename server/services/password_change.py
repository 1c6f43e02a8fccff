"""ChangePassword: the guess is throttled like a login's, the new password checked by the policy
and hashed in the pool; every other session of the user is revoked."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Protocol

from server.cache.rate_limit import RateLimiter, subject_digest
from server.clock import Clock
from server.domain import (
    ClientInfo,
    CodePurpose,
    EventType,
    Party,
    Principal,
    RevokeReason,
    SessionEnd,
)
from server.security.password_policy import MAX_PASSWORD_LENGTH, PasswordPolicy
from server.security.passwords import PasswordHasher
from server.services.access import require_user
from server.services.event_log import append_revoked, new_event
from server.services.inputs import email_key, require_text
from server.services.limits import Limits, rate_limited
from server.services.unit_of_work import UnitOfWorkFactory
from server.services.user_rules import (
    password_changed_meanwhile,
    user_not_found,
    wrong_current_password,
)


class AfterChange(Protocol):
    async def __call__(
        self,
        user_id: uuid.UUID,
        revoked: Sequence[uuid.UUID],
        reason: RevokeReason,
        *,
        version: int | None = None,
    ) -> None: ...


class PasswordChange:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        limiter: RateLimiter,
        limits: Limits,
        after_change: AfterChange,
        clock: Clock,
    ) -> None:
        self._units = units
        self._hasher = hasher
        self._policy = policy
        self._limiter = limiter
        self._limits = limits
        self._after_change = after_change
        self._clock = clock

    async def change(
        self, current: str, new: str, *, principal: Principal, client: ClientInfo
    ) -> None:
        """ChangePassword: reserve a guess, verify, hash, then under the row lock replace the
        hash, void reset codes and revoke every other session of the user."""
        user_id = require_user(principal)
        require_text(current, field="current_password", max_length=MAX_PASSWORD_LENGTH)
        async with self._units.read() as uow:
            stored = await uow.users.get(user_id)
        if stored is None:
            raise user_not_found()
        email, old_hash = stored.user.email, stored.password_hash
        checks = self._limits.password_guess(subject_digest(email_key(email)), client.ip)
        # Admitted for both hashes before the guess is counted: a refusal (HashingBusy) counts
        # nothing, and an admitted call is not refused between its verification and its hash.
        async with self._hasher.admitted(hashes=2) as hashing:
            # Reserved before verifying: N concurrent guesses get at most the budget verified.
            if wait := await self._limiter.reserve(checks):
                raise rate_limited(wait)
            if not await hashing.verify(old_hash, current):
                raise wrong_current_password()
            for limit, subject in checks:
                await self._limiter.reset(limit, subject)
            self._policy.check(new, email=email, field="new_password")
            new_hash = await hashing.hash(new)
        async with self._units.transaction() as uow:
            locked = await uow.users.get_for_update(user_id)
            if locked is None:
                raise user_not_found()
            if not await uow.users.replace_password_hash(user_id, current=old_hash, new=new_hash):
                raise password_changed_meanwhile()
            now = self._clock()
            user = locked.user
            await uow.users.save(
                dataclasses.replace(user, version=user.version + 1, updated_at=now)
            )
            # A reset code sent before is void: the password it would replace is gone.
            await uow.codes.void_all(user_id, CodePurpose.PASSWORD_RESET, now)
            revoked = await uow.sessions.revoke_all(
                user_id, reason=RevokeReason.PASSWORD_CHANGED, now=now, keep=principal.session_id
            )
            uow.events.append(
                new_event(
                    EventType.PASSWORD_CHANGED,
                    actor=principal,
                    target=Party.user(user_id),
                    now=now,
                )
            )
            append_revoked(
                uow.events,
                revoked,
                user_id=user_id,
                why=SessionEnd.PASSWORD_CHANGE,
                actor=principal,
                now=now,
            )
        await self._after_change(
            user_id, revoked, RevokeReason.PASSWORD_CHANGED, version=user.version + 1
        )
