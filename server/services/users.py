"""Users: sign-up (idempotent, throttled), reads through the cache, updates, deletion, passwords."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from server.cache.rate_limit import RateLimiter, ip_subject
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.clock import Clock, utc_now
from server.domain import (
    SYSTEM,
    ClientInfo,
    Cursor,
    EventType,
    Party,
    Principal,
    RevokeReason,
    Role,
    Scope,
    SessionEnd,
    User,
    UserChanges,
    UserState,
)
from server.errors import PermissionDenied, Reason
from server.security.password_policy import MAX_PASSWORD_LENGTH, PasswordPolicy
from server.security.passwords import PasswordHasher
from server.services.access import require_self_or_admin
from server.services.change_events import append_user_changes
from server.services.email_verification import ask_email_change
from server.services.event_log import append_revoked, new_event
from server.services.inputs import (
    check_display_name,
    check_request_id,
    normalize_email,
    require_text,
    resolve_user_ref,
)
from server.services.limits import Limits, rate_limited
from server.services.one_time_codes import CodeIssuer
from server.services.paging import PageTokens, invalid_token, keyset_page, page_size
from server.services.password_change import PasswordChange
from server.services.unit_of_work import UnitOfWorkFactory
from server.services.user_creation import UserCreation
from server.services.user_filter import parse_user_filter
from server.services.user_rules import (
    changed_user,
    locked_user,
    password_changed_meanwhile,
    require_may_change,
    signup_exempt,
    user_not_found,
    wrong_current_password,
)


class UserService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        cache: UserCache,
        revocations: RevocationStore,
        limiter: RateLimiter,
        limits: Limits,
        page_tokens: PageTokens,
        fingerprint_key: bytes,
        codes: CodeIssuer,
        clock: Clock = utc_now,
    ) -> None:
        self._codes = codes
        self._units = units
        self._hasher = hasher
        self._cache = cache
        self._revocations = revocations
        self._limiter = limiter
        self._limits = limits
        self._page_tokens = page_tokens
        self._clock = clock
        self._creation = UserCreation(
            units=units, policy=policy, fingerprint_key=fingerprint_key, clock=clock
        )
        self._passwords = PasswordChange(
            units=units,
            hasher=hasher,
            policy=policy,
            limiter=limiter,
            limits=limits,
            after_change=self._after_change,
            clock=clock,
        )

    # -- creation ---------------------------------------------------------------------------

    async def create_user(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        role: Role | None,
        request_id: str,
        principal: Principal | None,
        client: ClientInfo,
    ) -> User:
        email = normalize_email(email)
        display_name = check_display_name(display_name)
        key = check_request_id(request_id)
        role = role or Role.USER
        if role is not Role.USER and not (principal and principal.is_admin):
            raise PermissionDenied("only an administrator may create administrators")
        # Admitted before the sign-up is counted: a refusal for overload (HashingBusy) counts
        # nothing. A replayed request waits for its place too (refused only under overload).
        async with self._hasher.admitted() as hashing:
            if not signup_exempt(principal) and (
                wait := await self._limiter.consume(self._limits.signup_ip, ip_subject(client.ip))
            ):
                raise rate_limited(wait)
            return await self._creation.create(
                email,
                password,
                display_name,
                role,
                key,
                principal,
                hashing,
                actor=Party.of(principal),
            )

    async def bootstrap_admin(self, *, email: str, password: str, display_name: str) -> User:
        """`userservice create-admin`: the first administrator, made by an operator at a shell."""
        email, display_name = normalize_email(email), check_display_name(display_name)
        # The operator vouches for the address: it is verified.
        async with self._hasher.admitted() as hashing:
            return await self._creation.create(
                email,
                password,
                display_name,
                Role.ADMIN,
                None,
                None,
                hashing,
                actor=SYSTEM,
                verified=True,
            )

    # -- reads ------------------------------------------------------------------------------

    async def get_user(self, ref: str, principal: Principal) -> User:
        user_id = resolve_user_ref(ref, principal, field="id")
        require_self_or_admin(principal, user_id, Scope.USERS_READ)
        cached = await self._cache.get(user_id)
        if cached is not None:
            return cached
        generation = self._cache.generation
        async with self._units.read() as uow:
            stored = await uow.users.get(user_id)
        if stored is None:
            raise user_not_found()
        await self._cache.put(stored.user, generation=generation)
        return stored.user

    async def list_users(
        self, *, size: int, token: str, filter_text: str, principal: Principal
    ) -> tuple[Sequence[User], str]:
        if not (principal.is_admin or principal.has_scope(Scope.USERS_READ)):
            raise PermissionDenied(
                "listing users is for administrators", reason=Reason.ADMIN_REQUIRED
            )
        limit = page_size(size)
        where = parse_user_filter(filter_text)
        after: Cursor | None = None
        if (cursor := self._page_tokens.decode(token, where.canonical)) is not None:
            try:
                after = where.parse_cursor(cursor)
            except ValueError:
                raise invalid_token() from None
        async with self._units.read() as uow:
            return await keyset_page(
                lambda n: uow.users.page(where=where, after=after, limit=n),
                limit=limit,
                next_token=lambda last: self._page_tokens.encode(
                    where.canonical, where.order_key(last)
                ),
            )

    # -- changes ----------------------------------------------------------------------------

    async def update_user(
        self,
        ref: str,
        changes: UserChanges,
        *,
        etag: str,
        principal: Principal,
        current_password: str = "",
    ) -> User:
        """`current_password` is required when a user changes their own email, ignored else."""
        user_id = resolve_user_ref(ref, principal, field="user.id")
        require_self_or_admin(principal, user_id, Scope.USERS_WRITE)
        require_may_change(principal, changes)
        email = (
            None if changes.email is None else normalize_email(changes.email, field="user.email")
        )
        name = (
            None
            if changes.display_name is None
            else check_display_name(changes.display_name, field="user.display_name")
        )
        verified_hash = (
            await self._verify_for_email_change(user_id, current_password)
            if email is not None and principal.user_id == user_id
            else None
        )
        revoked: Sequence[uuid.UUID] = ()
        minted = self._codes.mint()
        async with self._units.transaction() as uow:
            stored = await locked_user(uow.users, user_id, etag, principal)
            if verified_hash is not None and stored.password_hash != verified_hash:
                raise password_changed_meanwhile()
            current, now = stored.user, self._clock()
            if verified_hash is not None and email is not None and email != current.email:
                # One's own new address waits for its code (email_verification.py).
                await ask_email_change(uow, self._codes, current, email, minted, now)
                email = None
            elif email is not None and email != current.email and stored.pending_email:
                # An administrator's change is immediate and ends any pending one.
                await uow.users.set_pending_email(user_id, None)
            user = changed_user(current, changes, name=name, email=email, now=now)
            await uow.users.save(user)
            # Tokens carry the role, and a disabled user must be refused at once.
            if user.role is not current.role or (
                user.state is UserState.DISABLED and current.state is not UserState.DISABLED
            ):
                revoked = await uow.sessions.revoke_all(
                    user_id, reason=RevokeReason.USER_CHANGED, now=now
                )
            append_user_changes(
                uow.events, current, user, actor=principal, revoked=revoked, now=now
            )
        await self._after_change(user_id, revoked, RevokeReason.USER_CHANGED, version=user.version)
        return user

    async def _verify_for_email_change(self, user_id: uuid.UUID, password: str) -> str:
        """The password hash `password` was verified against. Each attempt first reserves a slot
        on the per-user email-change limit: whether an address is taken is an answer too, so
        probing addresses is throttled like guessing passwords."""
        require_text(password, field="current_password", max_length=MAX_PASSWORD_LENGTH)
        async with self._hasher.admitted() as hashing:  # before counting: see AuthService.login
            if wait := await self._limiter.reserve([(self._limits.email_change, str(user_id))]):
                raise rate_limited(wait)
            async with self._units.read() as uow:
                stored = await uow.users.get(user_id)
            if stored is None:
                raise user_not_found()
            if not await hashing.verify(stored.password_hash, password):
                raise wrong_current_password()
        return stored.password_hash

    async def delete_user(self, ref: str, *, etag: str, principal: Principal) -> None:
        user_id = resolve_user_ref(ref, principal, field="id")
        require_self_or_admin(principal, user_id, Scope.USERS_WRITE)
        async with self._units.transaction() as uow:
            await locked_user(uow.users, user_id, etag, principal)
            now = self._clock()
            revoked = await uow.sessions.revoke_all(
                user_id, reason=RevokeReason.USER_DELETED, now=now
            )
            await uow.users.delete(user_id)
            append_revoked(
                uow.events,
                revoked,
                user_id=user_id,
                why=SessionEnd.USER_DELETED,
                actor=principal,
                now=now,
            )
            uow.events.append(
                new_event(
                    EventType.USER_DELETED, actor=principal, target=Party.user(user_id), now=now
                )
            )
        await self._after_change(user_id, revoked, RevokeReason.USER_DELETED)

    async def change_password(
        self, current: str, new: str, *, principal: Principal, client: ClientInfo
    ) -> None:
        await self._passwords.change(current, new, principal=principal, client=client)

    async def _after_change(
        self,
        user_id: uuid.UUID,
        revoked: Sequence[uuid.UUID],
        reason: RevokeReason,
        *,
        version: int | None = None,
    ) -> None:
        """After the commit: every replica refuses the revoked sessions and forgets the old user;
        no cache takes a version older than `version` (none at all after a deletion)."""
        await self._revocations.announce(revoked, reason=reason)
        await self._cache.invalidate(user_id, version=version)
