"""Authentication: login, refresh-token rotation with reuse detection, logout, token checks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import structlog

from server.cache.rate_limit import RateLimiter, subject_digest
from server.cache.revocations import RevocationStore
from server.clock import Clock
from server.domain import (
    ClientInfo,
    Principal,
    RefreshTokenRecord,
    RevokeReason,
    Role,
    Scope,
    TokenIntrospection,
    TokenPair,
    UserState,
)
from server.errors import InvalidArgument, PermissionDenied, Reason, Unauthenticated
from server.security.password_policy import MAX_PASSWORD_LENGTH
from server.security.passwords import PasswordHasher
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import (
    AccessClaims,
    AccessTokenCodec,
    new_refresh_token,
    refresh_token_hash,
    token_invalid,
)
from server.services.access import require_user
from server.services.inputs import normalize_email, require_text
from server.services.limits import Limits, rate_limited
from server.services.unit_of_work import RefreshTokenRepository, UnitOfWorkFactory

# The client id of a service account whose token (subject, issued at) may still be honoured;
# None when it must be refused.
ServiceTokenLive = Callable[[str, dt.datetime], Awaitable[str | None]]
MAX_REFRESH_TOKEN_LENGTH = 128


def invalid_credentials() -> Unauthenticated:
    # One message for an unknown email and a wrong password: the caller learns nothing more.
    return Unauthenticated("invalid email or password", reason=Reason.INVALID_CREDENTIALS)


def refresh_token_invalid() -> Unauthenticated:
    return Unauthenticated("the refresh token is not valid", reason=Reason.REFRESH_TOKEN_INVALID)


class AuthService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        hasher: PasswordHasher,
        codec: AccessTokenCodec,
        verifier: CachingTokenVerifier,
        revocations: RevocationStore,
        limiter: RateLimiter,
        limits: Limits,
        access_ttl: dt.timedelta,
        refresh_ttl: dt.timedelta,
        reuse_grace: dt.timedelta,
        clock: Clock,
        service_token_live: ServiceTokenLive,
    ) -> None:
        self._units = units
        self._service_token_live = service_token_live
        self._hasher = hasher
        self._codec = codec
        self._verifier = verifier
        self._revocations = revocations
        self._limiter = limiter
        self._limits = limits
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._reuse_grace = reuse_grace
        self._clock = clock
        self._log = structlog.get_logger("userservice.auth")

    async def login(self, email: str, password: str, client: ClientInfo) -> TokenPair:
        email = normalize_email(email)
        require_text(password, field="password", max_length=MAX_PASSWORD_LENGTH)
        # Unknown emails are counted too, so throttling reveals nothing about who has an account.
        counters = [
            (self._limits.login_account, subject_digest(email)),
            (self._limits.login_ip, client.ip),
        ]
        if wait := await self._limiter.retry_after(counters):
            raise rate_limited(wait)
        async with self._units.read() as uow:
            stored = await uow.users.get_by_email(email)
        if stored is None:
            await self._hasher.verify_dummy(password)
            await self._limiter.hit(counters)
            raise invalid_credentials()
        user, password_hash = stored.user, stored.password_hash
        if not await self._hasher.verify(password_hash, password):
            await self._limiter.hit(counters)
            raise invalid_credentials()
        await self._limiter.reset(*counters[0])
        if user.state is not UserState.ACTIVE:
            raise Unauthenticated("this account is disabled", reason=Reason.USER_DISABLED)
        new_hash = (
            await self._hasher.hash(password) if self._hasher.needs_rehash(password_hash) else None
        )
        refresh_token = new_refresh_token()
        async with self._units.transaction() as uow:
            now = self._clock()
            if new_hash is not None:
                # Unless the password changed meanwhile: then the new one's hash stays.
                await uow.users.replace_password_hash(user.id, current=password_hash, new=new_hash)
            started = await uow.sessions.start(
                user_id=user.id,
                now=now,
                expires_at=now + self._refresh_ttl,
                client_ip=client.ip[:64],
                user_agent=client.user_agent[:512],
            )
            await uow.refresh_tokens.add(
                refresh_token_hash(refresh_token), session_id=started.id, now=now
            )
        return self._pair(user.id, started.id, user.role, refresh_token, now, started.expires_at)

    async def refresh(self, refresh_token: str) -> TokenPair:
        require_text(refresh_token, field="refresh_token", max_length=MAX_REFRESH_TOKEN_LENGTH)
        token_hash = refresh_token_hash(refresh_token)
        new_token = new_refresh_token()
        reused: uuid.UUID | None = None
        async with self._units.transaction() as uow:
            now = self._clock()
            found = await uow.refresh_tokens.find_for_update(token_hash)
            if found is None:
                raise refresh_token_invalid()
            token, family = found
            if family.revoked_at is not None:
                raise Unauthenticated("the session has been revoked", reason=Reason.TOKEN_REVOKED)
            if family.expires_at <= now:
                raise Unauthenticated(
                    "the session has expired", reason=Reason.REFRESH_TOKEN_EXPIRED
                )
            if token.rotated_at is not None and not await self._within_grace(
                uow.refresh_tokens, token, now
            ):
                # RFC 9700 §4.14.2: a rotated token presented again means it leaked; end the
                # whole session, for the thief and the rightful holder alike.
                await uow.sessions.revoke(
                    family.id, reason=RevokeReason.REFRESH_TOKEN_REUSED, now=now
                )
                reused = family.id
            else:
                stored = None
                if family.user_id is not None:
                    stored = await uow.users.get(family.user_id)
                if stored is None or stored.user.state is not UserState.ACTIVE:
                    raise Unauthenticated("this account is disabled", reason=Reason.USER_DISABLED)
                current = (
                    token
                    if token.rotated_at is None
                    else await uow.refresh_tokens.current(family.id)
                )
                # The session's lock is held: the current token cannot be rotated under us.
                if current is None or not await uow.refresh_tokens.rotate_if_current(
                    current.token_hash, refresh_token_hash(new_token), now
                ):
                    raise refresh_token_invalid()
                user = stored.user
                pair = self._pair(user.id, family.id, user.role, new_token, now, family.expires_at)
        if reused is not None:
            await self._revocations.announce([reused])
            self._log.warning("refresh token reused; session revoked", session_id=str(reused))
            raise Unauthenticated(
                "this refresh token was already used; the session has been revoked",
                reason=Reason.REFRESH_TOKEN_REUSED,
            )
        return pair

    async def _within_grace(
        self, tokens: RefreshTokenRepository, token: RefreshTokenRecord, now: dt.datetime
    ) -> bool:
        """Only the immediately previous token, and only within the grace window (if set)."""
        if not self._reuse_grace or token.rotated_at is None:
            return False
        if now - token.rotated_at > self._reuse_grace:
            return False
        latest = await tokens.latest_rotated(token.session_id)
        return latest is not None and latest.token_hash == token.token_hash

    def _pair(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        role: Role,
        refresh_token: str,
        now: dt.datetime,
        session_expires_at: dt.datetime,
    ) -> TokenPair:
        # An access token never outlives its session.
        ttl = min(self._access_ttl, session_expires_at - now)
        access = self._codec.issue(
            str(user_id), now=now, ttl=ttl, session_id=str(session_id), role=role.value
        )
        return TokenPair(
            access_token=access.token,
            access_expires_at=access.expires_at,
            refresh_token=refresh_token,
            refresh_expires_at=session_expires_at,
            session_id=session_id,
        )

    async def logout(self, principal: Principal, refresh_token: str) -> None:
        require_user(principal)
        session_id = principal.session_id
        assert session_id is not None
        if refresh_token:
            require_text(refresh_token, field="refresh_token", max_length=MAX_REFRESH_TOKEN_LENGTH)
            async with self._units.read() as uow:
                found = await uow.refresh_tokens.find(refresh_token_hash(refresh_token))
            if found is None or found[1].id != session_id:
                raise InvalidArgument.for_field(
                    "refresh_token", "does not belong to the caller's session"
                )
        async with self._units.transaction() as uow:
            await uow.sessions.revoke(session_id, reason=RevokeReason.LOGOUT, now=self._clock())
        await self._revocations.announce([session_id])

    async def authenticate(self, token: str) -> Principal:
        """The caller behind an access token; Unauthenticated when it must not be honoured."""
        claims = self._verifier.verify(token)
        if claims.is_service:
            # A disabled or deleted account, or one whose tokens were revoked, is refused at once.
            client_id = await self._service_token_live(claims.subject, claims.issued_at)
            if client_id is None:
                raise Unauthenticated("the token has been revoked", reason=Reason.TOKEN_REVOKED)
            return Principal(
                subject=claims.subject,
                expires_at=claims.expires_at,
                scopes=frozenset(claims.scopes),
                client_id=client_id,
            )
        principal = _user_principal(claims)
        assert principal.session_id is not None
        if not await self._session_live(principal.session_id):
            raise Unauthenticated("the session has been revoked", reason=Reason.TOKEN_REVOKED)
        return principal

    async def _session_live(self, session_id: uuid.UUID) -> bool:
        revoked = await self._revocations.is_revoked(session_id)
        if revoked is not None:
            return not revoked
        # Redis cannot vouch: the database decides (or the call fails with UNAVAILABLE). A token
        # is never accepted unchecked.
        async with self._units.read() as uow:
            return await uow.sessions.is_live(session_id, self._clock())

    async def introspect(self, token: str, caller: Principal) -> TokenIntrospection:
        """ValidateToken: the token's own holder, an admin, or a service with tokens:validate."""
        require_text(token, field="access_token", max_length=64 * 1024)
        try:
            subject = await self.authenticate(token)
        except Unauthenticated:
            return TokenIntrospection(active=False)
        holder = caller.subject == subject.subject and caller.session_id == subject.session_id
        if not (holder or caller.is_admin or caller.has_scope(Scope.TOKENS_VALIDATE)):
            raise PermissionDenied(
                "only the token's holder or a service with tokens:validate may validate it"
            )
        return TokenIntrospection(
            active=True,
            user_id=subject.user_id,
            session_id=subject.session_id,
            role=subject.role,
            expires_at=subject.expires_at,
            scopes=tuple(sorted(subject.scopes)),
            client_id=subject.client_id,
        )

    def jwks(self) -> list[dict[str, str]]:
        return self._codec.keys.jwks()


def _user_principal(claims: AccessClaims) -> Principal:
    try:
        session_id = uuid.UUID(claims.session_id or "")
        uuid.UUID(claims.subject)
        role = Role(claims.role or "")
    except ValueError:
        raise token_invalid() from None
    return Principal(
        subject=claims.subject, expires_at=claims.expires_at, session_id=session_id, role=role
    )
