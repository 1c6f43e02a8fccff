"""Users: sign-up (idempotent, throttled), reads through the cache, updates, deletion, passwords."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy.exc import IntegrityError

from server.cache.rate_limit import RateLimiter, subject_digest
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache, decode_user, encode_user
from server.domain import (
    ClientInfo,
    Principal,
    Role,
    Scope,
    User,
    UserChanges,
    UserState,
)
from server.errors import (
    Aborted,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from server.repositories.database import Database
from server.repositories.idempotency import IdempotencyRepository
from server.repositories.models import UserRow
from server.repositories.sessions import SessionRepository
from server.repositories.users import UserRepository, to_user
from server.security.password_policy import MAX_PASSWORD_LENGTH, PasswordPolicy
from server.security.passwords import PasswordHasher
from server.services.access import require_self_or_admin, require_user
from server.services.inputs import (
    check_display_name,
    check_request_id,
    normalize_email,
    require_text,
    resolve_user_ref,
)
from server.services.limits import Limits, rate_limited
from server.services.paging import PageTokens, page_size
from server.services.user_filter import parse_user_filter

IDEMPOTENCY_TTL = dt.timedelta(hours=24)
Clock = Callable[[], dt.datetime]


def user_not_found() -> NotFound:
    return NotFound("no such user", reason="USER_NOT_FOUND")


def etag_mismatch() -> Aborted:
    return Aborted("the user changed since it was read; read it again", reason="ETAG_MISMATCH")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UserService:
    def __init__(
        self,
        *,
        db: Database,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        cache: UserCache,
        revocations: RevocationStore,
        limiter: RateLimiter,
        limits: Limits,
        page_tokens: PageTokens,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._hasher = hasher
        self._policy = policy
        self._cache = cache
        self._revocations = revocations
        self._limiter = limiter
        self._limits = limits
        self._page_tokens = page_tokens
        self._clock = clock

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
        if principal is None and (
            wait := await self._limiter.consume(self._limits.signup_ip, client.ip)
        ):
            raise rate_limited(wait)
        return await self._create(email, password, display_name, role, key, principal)

    async def bootstrap_admin(self, *, email: str, password: str, display_name: str) -> User:
        """`userservice create-admin`: the first administrator, made by an operator at a shell."""
        email, display_name = normalize_email(email), check_display_name(display_name)
        return await self._create(email, password, display_name, Role.ADMIN, None, None)

    async def _create(
        self,
        email: str,
        password: str,
        display_name: str,
        role: Role,
        key: str | None,
        principal: Principal | None,
    ) -> User:
        self._policy.check(password, email=email)
        caller = principal.subject if principal else "anonymous"
        # The password is left out: a fast hash of it must not sit in a table for a day.
        fingerprint = hashlib.sha256(f"{email}\x00{display_name}\x00{role}".encode()).digest()
        if key is not None and (replay := await self._replay(caller, key, fingerprint)):
            return replay

        password_hash = await self._hasher.hash(password)  # before the transaction: ~30 ms of CPU
        try:
            async with self._db.transaction() as session:
                now = self._clock()
                row = await UserRepository(session).add(
                    email=email,
                    password_hash=password_hash,
                    display_name=display_name,
                    role=role,
                    now=now,
                )
                user = to_user(row)
                if key is not None:
                    await IdempotencyRepository(session).add(
                        operation="CreateUser",
                        caller=caller,
                        request_id=key,
                        request_hash=fingerprint,
                        response=encode_user(user),
                        now=now,
                        ttl=IDEMPOTENCY_TTL,
                    )
        except (IntegrityError, AlreadyExists):
            # A concurrent call with the same request_id committed first: answer as it did.
            if key is not None and (replay := await self._replay(caller, key, fingerprint)):
                return replay
            raise
        return user

    async def _replay(self, caller: str, key: str, fingerprint: bytes) -> User | None:
        async with self._db.read() as session:
            record = await IdempotencyRepository(session).get("CreateUser", caller, key)
        if record is None or record.expires_at <= self._clock():
            return None
        if record.request_hash != fingerprint:
            raise InvalidArgument.for_field(
                "request_id", "was already used for a different request", reason="REQUEST_ID_REUSED"
            )
        return decode_user(record.response)

    # -- reads ------------------------------------------------------------------------------

    async def get_user(self, ref: str, principal: Principal) -> User:
        user_id = resolve_user_ref(ref, principal, field="id")
        require_self_or_admin(principal, user_id, Scope.USERS_READ)
        cached = await self._cache.get(user_id)
        if cached is not None:
            return cached
        generation = self._cache.generation
        async with self._db.read() as session:
            row = await UserRepository(session).get(user_id)
            if row is None:
                raise user_not_found()
            user = to_user(row)
        await self._cache.put(user, generation=generation)
        return user

    async def list_users(
        self, *, size: int, token: str, filter_text: str, principal: Principal
    ) -> tuple[Sequence[User], str]:
        if not (principal.is_admin or principal.has_scope(Scope.USERS_READ)):
            raise PermissionDenied("listing users is for administrators", reason="ADMIN_REQUIRED")
        limit = page_size(size)
        where = parse_user_filter(filter_text)
        after: str | uuid.UUID | None = (
            self._page_tokens.decode(token, where.canonical)
            if where.email_prefix is not None
            else self._page_tokens.decode_id(token, where.canonical)
        )
        async with self._db.read() as session:
            rows = await UserRepository(session).page(after=after, limit=limit + 1, where=where)
        users = [to_user(row) for row in rows[:limit]]
        more = len(rows) > limit
        return users, (
            self._page_tokens.encode(where.canonical, where.order_key(users[-1])) if more else ""
        )

    # -- changes ----------------------------------------------------------------------------

    async def update_user(
        self, ref: str, changes: UserChanges, *, etag: str, principal: Principal
    ) -> User:
        user_id = resolve_user_ref(ref, principal, field="user.id")
        require_self_or_admin(principal, user_id, Scope.USERS_WRITE)
        if changes.role is not None and not principal.is_admin:
            raise PermissionDenied(
                "only an administrator may change a role", reason="FIELD_NOT_ALLOWED"
            )
        if changes.state is not None and not (
            principal.is_admin or principal.has_scope(Scope.USERS_WRITE)
        ):
            raise PermissionDenied(
                "only an administrator may change a state", reason="FIELD_NOT_ALLOWED"
            )
        email = (
            None if changes.email is None else normalize_email(changes.email, field="user.email")
        )
        name = (
            None
            if changes.display_name is None
            else check_display_name(changes.display_name, field="user.display_name")
        )
        revoked: Sequence[uuid.UUID] = ()
        async with self._db.transaction() as session:
            users = UserRepository(session)
            row = await self._locked(users, user_id, etag)
            now = self._clock()
            end_sessions = (changes.role is not None and changes.role is not row.role) or (
                changes.state is UserState.DISABLED and row.state is not UserState.DISABLED
            )
            if name is not None:
                row.display_name = name
            if email is not None and email != row.email:
                row.email, row.email_verified = email, False
            if changes.role is not None:
                row.role = changes.role
            if changes.state is not None:
                row.state = changes.state
            row.version += 1
            row.updated_at = now
            await users.flush_changes()
            if end_sessions:
                # Tokens carry the role, and a disabled user must be refused at once.
                revoked = await SessionRepository(session).revoke_all(
                    user_id, reason="user_changed", now=now
                )
            user = to_user(row)
        await self._after_change(user_id, revoked)
        return user

    async def delete_user(self, ref: str, *, etag: str, principal: Principal) -> None:
        user_id = resolve_user_ref(ref, principal, field="id")
        require_self_or_admin(principal, user_id, Scope.USERS_WRITE)
        async with self._db.transaction() as session:
            users = UserRepository(session)
            row = await self._locked(users, user_id, etag)
            revoked = await SessionRepository(session).revoke_all(
                user_id, reason="user_deleted", now=self._clock()
            )
            await users.delete(row)
        await self._after_change(user_id, revoked)

    async def change_password(self, current: str, new: str, *, principal: Principal) -> None:
        user_id = require_user(principal)
        require_text(current, field="current_password", max_length=MAX_PASSWORD_LENGTH)
        async with self._db.read() as session:
            row = await UserRepository(session).get(user_id)
            if row is None:
                raise user_not_found()
            email, old_hash = row.email, row.password_hash
        account = [(self._limits.login_account, subject_digest(email))]
        if wait := await self._limiter.retry_after(account):
            raise rate_limited(wait)
        if not await self._hasher.verify(old_hash, current):
            await self._limiter.hit(account)
            raise InvalidArgument.for_field(
                "current_password", "is not the current password", reason="INVALID_CREDENTIALS"
            )
        self._policy.check(new, email=email, field="new_password")
        new_hash = await self._hasher.hash(new)
        async with self._db.transaction() as session:
            row = await UserRepository(session).get_for_update(user_id)
            if row is None:
                raise user_not_found()
            if row.password_hash != old_hash:
                raise Aborted(
                    "the password changed meanwhile; try again", reason="CONCURRENT_CHANGE"
                )
            now = self._clock()
            row.password_hash, row.version, row.updated_at = new_hash, row.version + 1, now
            revoked = await SessionRepository(session).revoke_all(
                user_id, reason="password_changed", now=now, keep=principal.session_id
            )
        await self._after_change(user_id, revoked)

    async def _locked(self, users: UserRepository, user_id: uuid.UUID, etag: str) -> UserRow:
        row = await users.get_for_update(user_id)
        if row is None:
            raise user_not_found()
        if etag and etag != to_user(row).etag:
            raise etag_mismatch()
        return row

    async def _after_change(self, user_id: uuid.UUID, revoked: Sequence[uuid.UUID]) -> None:
        """After the commit: every replica forgets the old user and refuses revoked sessions."""
        await self._revocations.announce(revoked)
        await self._cache.invalidate(user_id)
