"""Users: sign-up (idempotent), reads through the cache."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.cache.users import UserCache, decode_user, encode_user
from server.domain import Principal, Role, Scope, User
from server.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from server.repositories.idempotency import IdempotencyRepository
from server.repositories.users import UserRepository, to_user
from server.security.password_policy import PasswordPolicy
from server.security.passwords import PasswordHasher
from server.services.access import require_self_or_admin
from server.services.inputs import (
    check_display_name,
    check_request_id,
    normalize_email,
    resolve_user_ref,
)

IDEMPOTENCY_TTL = dt.timedelta(hours=24)
Clock = Callable[[], dt.datetime]


def user_not_found() -> NotFound:
    return NotFound("no such user", reason="USER_NOT_FOUND")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UserService:
    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        cache: UserCache,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._hasher = hasher
        self._policy = policy
        self._cache = cache
        self._clock = clock

    async def create_user(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        role: Role | None,
        request_id: str,
        principal: Principal | None,
    ) -> User:
        email = normalize_email(email)
        display_name = check_display_name(display_name)
        key = check_request_id(request_id)
        role = role or Role.USER
        if role is not Role.USER and not (principal and principal.is_admin):
            raise PermissionDenied("only an administrator may create administrators")
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
        fingerprint = hashlib.sha256(f"{email}\x00{display_name}\x00{role}".encode()).digest()
        if key is not None and (
            replay := await self._replay("CreateUser", caller, key, fingerprint)
        ):
            return replay

        password_hash = await self._hasher.hash(password)  # before the transaction: ~30 ms of CPU
        try:
            async with self._db.begin() as session:
                now = self._clock()
                user = to_user(
                    await UserRepository(session).add(
                        email=email,
                        password_hash=password_hash,
                        display_name=display_name,
                        role=role,
                        now=now,
                    )
                )
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
            if key is not None and (
                replay := await self._replay("CreateUser", caller, key, fingerprint)
            ):
                return replay
            raise
        return user

    async def _replay(
        self, operation: str, caller: str, key: str, fingerprint: bytes
    ) -> User | None:
        async with self._db() as session:
            record = await IdempotencyRepository(session).get(operation, caller, key)
        if record is None or record.expires_at <= self._clock():
            return None
        if record.request_hash != fingerprint:
            raise InvalidArgument.for_field(
                "request_id",
                "was already used for a different request",
                reason="REQUEST_ID_REUSED",
            )
        return decode_user(record.response)

    async def get_user(self, ref: str, principal: Principal) -> User:
        user_id = resolve_user_ref(ref, principal, field="id")
        require_self_or_admin(principal, user_id, Scope.USERS_READ)
        cached = await self._cache.get(user_id)
        if cached is not None:
            return cached
        async with self._db() as session:
            row = await UserRepository(session).get(user_id)
            if row is None:
                raise user_not_found()
            user = to_user(row)
        await self._cache.put(user)
        return user

    async def find_by_id(self, user_id: uuid.UUID) -> User | None:
        async with self._db() as session:
            row = await UserRepository(session).get(user_id)
            return None if row is None else to_user(row)
