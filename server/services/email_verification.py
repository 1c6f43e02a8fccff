"""Email verification and confirmed email changes: RequestEmailVerification and VerifyEmail.

A code proves that its holder reads the address it was sent to. It verifies the user's current
address or, when the user asked to change it (UpdateUser), the pending one, which then becomes
the email. A code for an address that is neither any more (superseded by a later change
request) verifies nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from server.cache.rate_limit import RateLimiter
from server.cache.users import UserCache
from server.clock import Clock
from server.domain import (
    CodePurpose,
    EventType,
    OneTimeCode,
    Party,
    Principal,
    Scope,
    StoredUser,
    User,
)
from server.errors import AlreadyExists, FailedPrecondition, Reason
from server.services.access import require_self_or_admin
from server.services.change_events import append_user_changes
from server.services.event_log import new_event
from server.services.inputs import resolve_user_ref
from server.services.limits import Limits, rate_limited
from server.services.one_time_codes import CodeIssuer, code_invalid
from server.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from server.services.user_rules import require_may_act_on, user_not_found


class EmailVerificationService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        codes: CodeIssuer,
        cache: UserCache,
        limiter: RateLimiter,
        limits: Limits,
        clock: Clock,
    ) -> None:
        self._units = units
        self._codes = codes
        self._cache = cache
        self._limiter = limiter
        self._limits = limits
        self._clock = clock

    async def request_verification(self, ref: str, principal: Principal) -> None:
        """A new code for the user's pending address, else for the unverified current one."""
        user_id = resolve_user_ref(ref, principal, field="user_id")
        require_self_or_admin(principal, user_id, Scope.USERS_WRITE)
        if wait := await self._limiter.consume(self._limits.verification_user, str(user_id)):
            raise rate_limited(wait)
        minted = self._codes.mint()
        async with self._units.transaction() as uow:
            stored = await uow.users.get(user_id)
            if stored is None:
                raise user_not_found()
            require_may_act_on(principal, stored.user)
            address = stored.pending_email or (
                None if stored.user.email_verified else stored.user.email
            )
            if address is None:
                raise FailedPrecondition(
                    "the email is already verified", reason=Reason.EMAIL_ALREADY_VERIFIED
                )
            await self._codes.issue(
                uow,
                minted,
                purpose=CodePurpose.EMAIL_VERIFICATION,
                user_id=user_id,
                email=address,
                now=self._clock(),
            )

    async def verify_email(self, raw_code: str) -> None:
        """Public: the code is the proof. Verifies the address it was sent to, which becomes the
        email when it was the pending one."""
        code_hash = self._codes.digest(raw_code)
        async with self._units.transaction() as uow:
            now = self._clock()
            code = await uow.codes.consume(code_hash, CodePurpose.EMAIL_VERIFICATION, now)
            stored = None if code is None else await uow.users.get_for_update(code.user_id)
            if code is None or stored is None:
                raise code_invalid()
            user = await _apply(uow, stored, code)
        await self._cache.invalidate(user.id, version=user.version)


async def _apply(uow: UnitOfWork, stored: StoredUser, code: OneTimeCode) -> User:
    """The user after `code` verified its address; the events that say so."""
    current, now = stored.user, code.used_at
    assert now is not None
    if code.email == stored.pending_email:
        # Checked again now: the address may have been taken since the change was asked for.
        user = dataclasses.replace(current, email=code.email, email_verified=True)
        await uow.users.set_pending_email(current.id, None)
    elif code.email == current.email and not current.email_verified:
        user = dataclasses.replace(current, email_verified=True)
    else:
        raise code_invalid()  # superseded, or already verified: rolled back, nothing changes
    user = dataclasses.replace(user, version=current.version + 1, updated_at=now)
    await uow.users.save(user)  # AlreadyExists (EMAIL_TAKEN) when the new address was taken
    actor = Party.user(current.id)
    uow.events.append(new_event(EventType.USER_EMAIL_VERIFIED, actor=actor, target=actor, now=now))
    if user.email != current.email:
        append_user_changes(uow.events, current, user, actor=actor, revoked=(), now=now)
    return user


async def ask_email_change(
    uow: UnitOfWork,
    codes: CodeIssuer,
    current: User,
    email: str,
    minted: tuple[str, bytes],
    now: dt.datetime,
) -> None:
    """UpdateUser of one's own email: stores `email` as pending and sends it a code (earlier
    codes are void); tells the old address. A taken address is refused now, and checked again
    when the code comes back."""
    holder = await uow.users.get_by_email(email)
    if holder is not None and holder.user.id != current.id:
        raise AlreadyExists("this email is already registered", reason=Reason.EMAIL_TAKEN)
    await uow.users.set_pending_email(current.id, email)
    await uow.codes.void_all(current.id, CodePurpose.EMAIL_VERIFICATION, now)
    await codes.issue(
        uow,
        minted,
        purpose=CodePurpose.EMAIL_VERIFICATION,
        user_id=current.id,
        email=email,
        now=now,
    )
    uow.events.append(
        new_event(
            EventType.EMAIL_CHANGE_REQUESTED,
            target=Party.user(current.id),
            now=now,
            secret={"email": current.email},
        )
    )
