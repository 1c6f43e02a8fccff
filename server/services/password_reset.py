"""Password reset: RequestPasswordReset (by email, anyone; by user id, an administrator) and
ResetPassword (the code and a new password).

No enumeration: a request by email answers the same, after the same work, whether or not the
address has an account — the throttles (per address and per client IP) count every request;
a code is minted and hashed every time; one write unit of work looks the address up every time;
only the insert of the code and its event differs (about 2 ms), and nothing of it reaches the
answer: the answer waits until `answer_floor` seconds after the lookup began, so both take the
floor while the work fits in it. No password is hashed on that path at all.
"""

from __future__ import annotations

import asyncio
import dataclasses

from server.cache.rate_limit import RateLimiter, ip_subject, subject_digest
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.clock import Clock
from server.domain import (
    ClientInfo,
    CodePurpose,
    EventType,
    Party,
    Principal,
    RevokeReason,
    SessionEnd,
    UserState,
)
from server.errors import InvalidArgument, PermissionDenied, Reason
from server.security.password_policy import PasswordPolicy
from server.security.passwords import PasswordHasher
from server.services.event_log import append_revoked, new_event
from server.services.inputs import email_key, normalize_email, parse_id
from server.services.limits import Limits, rate_limited
from server.services.one_time_codes import CodeIssuer, code_invalid
from server.services.unit_of_work import UnitOfWorkFactory
from server.services.user_rules import require_may_act_on, user_not_found


class PasswordResetService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        codes: CodeIssuer,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        cache: UserCache,
        revocations: RevocationStore,
        limiter: RateLimiter,
        limits: Limits,
        clock: Clock,
        answer_floor: float = 0.0,
    ) -> None:
        self._answer_floor = answer_floor
        self._units = units
        self._codes = codes
        self._hasher = hasher
        self._policy = policy
        self._cache = cache
        self._revocations = revocations
        self._limiter = limiter
        self._limits = limits
        self._clock = clock

    async def request_by_email(self, email: str, client: ClientInfo) -> None:
        """Always None, the same way, for any well-formed address (see the module docstring)."""
        email = normalize_email(email)
        checks = [
            (self._limits.reset_email, subject_digest(email_key(email))),
            (self._limits.reset_ip, ip_subject(client.ip)),
        ]
        if wait := await self._limiter.reserve(checks):
            raise rate_limited(wait)
        loop = asyncio.get_running_loop()
        answer_at = loop.time() + self._answer_floor
        minted = self._codes.mint()
        async with self._units.transaction() as uow:
            stored = await uow.users.get_by_email(email)
            if stored is not None and stored.user.state is UserState.ACTIVE:
                await self._codes.issue(
                    uow,
                    minted,
                    purpose=CodePurpose.PASSWORD_RESET,
                    user_id=stored.user.id,
                    email=stored.user.email,
                    now=self._clock(),
                )
        # The same time for an address with an account and one without (the module docstring).
        await asyncio.sleep(max(0.0, answer_at - loop.time()))

    async def request_for_user(self, ref: str, principal: Principal) -> None:
        """An administrator's request for any user (only an administrator acts on one)."""
        if not principal.is_admin:
            raise PermissionDenied(
                "only an administrator may request a reset by user id",
                reason=Reason.ADMIN_REQUIRED,
            )
        user_id = parse_id(ref, field="user_id")
        minted = self._codes.mint()
        async with self._units.transaction() as uow:
            stored = await uow.users.get(user_id)
            if stored is None:
                raise user_not_found()
            require_may_act_on(principal, stored.user)
            await self._codes.issue(
                uow,
                minted,
                purpose=CodePurpose.PASSWORD_RESET,
                user_id=user_id,
                email=stored.user.email,
                now=self._clock(),
            )

    async def reset(self, raw_code: str, new_password: str) -> None:
        """Sets the password, consumes the code (once, however many resets race), revokes every
        session of the user."""
        code_hash = self._codes.digest(raw_code)
        if not new_password:
            raise InvalidArgument.for_field("new_password", "is required")
        # Admitted to the hashing pool before the code is looked at: a refusal for overload
        # (HashingBusy) says nothing about the code.
        async with self._hasher.admitted() as hashing:
            async with self._units.read() as uow:
                found = await uow.codes.find(code_hash, CodePurpose.PASSWORD_RESET, self._clock())
                stored = None if found is None else await uow.users.get(found.user_id)
            if stored is None or found is None or found.email != stored.user.email:
                raise code_invalid()  # unknown, used, expired, superseded, or sent elsewhere
            self._policy.check(new_password, email=stored.user.email, field="new_password")
            new_hash = await hashing.hash(new_password)  # off the loop, in the hashing pool
        async with self._units.transaction() as uow:
            now = self._clock()
            code = await uow.codes.consume(code_hash, CodePurpose.PASSWORD_RESET, now)
            locked = None if code is None else await uow.users.get_for_update(code.user_id)
            if (
                code is None
                or locked is None
                or locked.user.state is not UserState.ACTIVE
                or code.email != locked.user.email  # the address changed since it was sent
            ):
                raise code_invalid()
            user = locked.user
            await uow.users.replace_password_hash(
                user.id, current=locked.password_hash, new=new_hash
            )
            # Receiving the code proved the address, when it is still the user's.
            verified = user.email_verified or code.email == user.email
            user = dataclasses.replace(
                user, email_verified=verified, version=user.version + 1, updated_at=now
            )
            await uow.users.save(user)
            await uow.codes.void_all(user.id, CodePurpose.PASSWORD_RESET, now)
            revoked = await uow.sessions.revoke_all(
                user.id, reason=RevokeReason.PASSWORD_RESET, now=now
            )
            target = Party.user(user.id)
            uow.events.append(new_event(EventType.PASSWORD_RESET, target=target, now=now))
            if verified and not locked.user.email_verified:
                uow.events.append(new_event(EventType.USER_EMAIL_VERIFIED, target=target, now=now))
            append_revoked(
                uow.events, revoked, user_id=user.id, why=SessionEnd.PASSWORD_RESET, now=now
            )
        await self._revocations.announce(revoked, reason=RevokeReason.PASSWORD_RESET)
        await self._cache.invalidate(user.id, version=user.version)
