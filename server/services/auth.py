"""Authentication: login, refresh-token rotation with reuse detection, logout, token checks."""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import structlog

from server.cache.rate_limit import RateLimiter
from server.cache.revocations import RevocationStore
from server.clock import Clock
from server.domain import (
    ClientInfo,
    EventType,
    Party,
    Principal,
    RefreshTokenRecord,
    RevokeReason,
    Role,
    Scope,
    SessionEnd,
    SessionRecord,
    TokenIntrospection,
    TokenPair,
    User,
    UserState,
)
from server.errors import (
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Reason,
    Unauthenticated,
    Unavailable,
)
from server.security.password_policy import MAX_PASSWORD_LENGTH
from server.security.passwords import PasswordHasher
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import (
    AccessClaims,
    AccessTokenCodec,
    new_refresh_token,
    open_successor,
    refresh_token_hash,
    seal_successor,
    token_invalid,
)
from server.services.access import require_user
from server.services.event_log import LoginRefusals, append_revoked, new_event
from server.services.inputs import email_key, normalize_email, require_text
from server.services.limits import Limits, rate_limited
from server.services.unit_of_work import (
    RefreshTokenRepository,
    UnitOfWorkFactory,
    UserRepository,
)

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
        require_verified_email: bool = False,
    ) -> None:
        self._require_verified_email = require_verified_email
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
        self._refusals = LoginRefusals(units, clock)
        self._log = structlog.get_logger("userservice.auth")
        # Exported as metrics: logins by outcome ("success" or the refusal's reason), refresh
        # tokens presented again after their rotation, refresh tokens issued.
        self.login_outcomes: collections.Counter[str] = collections.Counter()
        self.refresh_reuses = 0
        self.refresh_tokens_issued = 0

    async def login(self, email: str, password: str, client: ClientInfo) -> TokenPair:
        try:
            pair = await self._login(email, password, client)
        except DomainError as refused:
            self.login_outcomes[str(refused.reason).lower()] += 1
            raise
        self.login_outcomes["success"] += 1
        return pair

    async def _login(self, email: str, password: str, client: ClientInfo) -> TokenPair:
        email = normalize_email(email)
        require_text(password, field="password", max_length=MAX_PASSWORD_LENGTH)
        # The slot is reserved before the password is verified, so N guesses released together
        # verify at most the limit's worth. Unknown emails are counted too: throttling says
        # nothing about who has an account.
        attempt = self._limits.login_attempt(email_key(email), client.ip)
        # Admitted to the hashing pool first: a call refused for overload (HashingBusy) has
        # counted no attempt and looked up no account, so it says nothing about either.
        async with self._hasher.admitted() as hashing:  # a rehash is rare: not reserved
            admission = await self._limiter.admit(attempt.checks)
            if admission.wait:
                if admission.first_refusal:  # recorded once a window, not once an attempt
                    await self._refusals.throttled(email)
                raise rate_limited(admission.wait)
            try:
                async with self._units.read() as uow:
                    stored = await uow.users.get_by_email(email)
            except (Unavailable, DeadlineExceeded):
                # Nothing was verified: the attempt gives its slots back, so retries during a
                # database outage do not lock anyone out once it ends.
                await self._limits.refund(self._limiter, attempt)
                raise
            if stored is None:
                await hashing.verify_dummy(password)
                await self._refusals.failed(None, "unknown_account")
                raise invalid_credentials()
            if not await hashing.verify(stored.password_hash, password):
                await self._refusals.failed(stored.user.id, "wrong_password")
                raise invalid_credentials()
            await self._limits.succeeded(self._limiter, attempt)
            if self._require_verified_email and not stored.user.email_verified:
                # Only now, after the password: a guesser learns nothing from it.
                await self._refusals.failed(stored.user.id, "email_not_verified")
                raise FailedPrecondition(
                    "verify the email address first", reason=Reason.EMAIL_NOT_VERIFIED
                )
            new_hash = (
                await hashing.hash(password)
                if self._hasher.needs_rehash(stored.password_hash)
                else None
            )
        return await self._start_session(stored.user.id, stored.password_hash, new_hash, client)

    async def _start_session(
        self, user_id: uuid.UUID, verified_hash: str, new_hash: str | None, client: ClientInfo
    ) -> TokenPair:
        try:
            return await self._session_for(user_id, verified_hash, new_hash, client)
        except Unauthenticated as refused:  # its unit of work rolled back: recorded on its own
            why = "disabled" if refused.reason == Reason.USER_DISABLED else "changed_meanwhile"
            await self._refusals.failed(user_id, why)
            raise

    async def _session_for(
        self, user_id: uuid.UUID, verified_hash: str, new_hash: str | None, client: ClientInfo
    ) -> TokenPair:
        refresh_token = new_refresh_token()
        async with self._units.transaction() as uow:
            # Under the user's row lock: a disable, deletion, role or password change either
            # committed first (and is seen here) or waits for this session to exist (and then
            # revokes it). Either way no token outlives it. (ARCHITECTURE.md, "Invariants")
            current = await uow.users.get_for_update(user_id)
            if current is None or current.password_hash != verified_hash:
                raise invalid_credentials()  # deleted, or the password changed meanwhile
            if current.user.state is not UserState.ACTIVE:
                raise Unauthenticated("this account is disabled", reason=Reason.USER_DISABLED)
            now = self._clock()
            if new_hash is not None:
                await uow.users.replace_password_hash(user_id, current=verified_hash, new=new_hash)
            started = await uow.sessions.start(
                user_id=user_id,
                now=now,
                expires_at=now + self._refresh_ttl,
                client_ip=client.ip[:64],
                user_agent=client.user_agent[:512],
            )
            await uow.refresh_tokens.add(
                refresh_token_hash(refresh_token), session_id=started.id, now=now
            )
            uow.events.append(
                new_event(
                    EventType.SESSION_CREATED,
                    actor=Party.user(user_id),
                    target=Party.user(user_id),
                    now=now,
                    data={"session_id": str(started.id)},
                )
            )
        self.refresh_tokens_issued += 1
        return self._pair(
            user_id, started.id, current.user.role, refresh_token, now, started.expires_at
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotates a refresh token. One token is rotated at most once, however many calls race
        (a compare-and-set on its row); every other presentation is reuse, which revokes the
        session, or — within the reuse grace period, for the immediately previous token only —
        answers with the same successor. Never a second chain."""
        require_text(refresh_token, field="refresh_token", max_length=MAX_REFRESH_TOKEN_LENGTH)
        token_hash = refresh_token_hash(refresh_token)
        new_token = new_refresh_token()
        async with self._units.transaction() as uow:
            now = self._clock()
            found = await uow.refresh_tokens.find(token_hash)
            if found is None:
                raise refresh_token_invalid()
            token, family = found
            user = await _session_user(uow.users, family, now)
            if token.rotated_at is None:
                sealed = seal_successor(refresh_token, new_token) if self._reuse_grace else None
                if await uow.refresh_tokens.rotate_if_current(
                    token_hash, refresh_token_hash(new_token), now, successor_sealed=sealed
                ):
                    self.refresh_tokens_issued += 1  # counted before the commit; rarely undone
                    return self._pair(
                        user.id, family.id, user.role, new_token, now, family.expires_at
                    )
                # Another call rotated it first; it held the row until it committed.
                found = await uow.refresh_tokens.find(token_hash)
                assert found is not None
                token = found[0]
            successor = await self._grace_successor(uow.refresh_tokens, token, refresh_token, now)
            if successor is not None:
                return self._pair(user.id, family.id, user.role, successor, now, family.expires_at)
            # RFC 9700 §4.14.2: a rotated token presented again means it leaked; end the whole
            # session, for the thief and the rightful holder alike.
            if await uow.sessions.revoke(
                family.id, reason=RevokeReason.REFRESH_TOKEN_REUSED, now=now
            ):
                append_revoked(
                    uow.events,
                    [family.id],
                    user_id=family.user_id,
                    why=SessionEnd.REUSE_DETECTED,
                    now=now,
                )
        self.refresh_reuses += 1
        await self._revocations.announce([family.id], reason=RevokeReason.REFRESH_TOKEN_REUSED)
        self._log.warning("refresh token reused; session revoked", session_id=str(family.id))
        raise Unauthenticated(
            "this refresh token was already used; the session has been revoked",
            reason=Reason.REFRESH_TOKEN_REUSED,
        )

    async def _grace_successor(
        self,
        tokens: RefreshTokenRepository,
        token: RefreshTokenRecord,
        presented: str,
        now: dt.datetime,
    ) -> str | None:
        """The token that replaced `token`, if the grace period allows presenting it again: only
        within the window, and only while that successor is still the session's current token."""
        if not self._reuse_grace or token.rotated_at is None or token.successor_sealed is None:
            return None
        if now - token.rotated_at > self._reuse_grace:
            return None
        successor = open_successor(presented, token.successor_sealed)
        if successor is None:
            return None
        current = await tokens.current(token.session_id)
        if current is None or current.token_hash != refresh_token_hash(successor):
            return None
        return successor

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
            now = self._clock()
            if await uow.sessions.revoke(session_id, reason=RevokeReason.LOGOUT, now=now):
                append_revoked(
                    uow.events,
                    [session_id],
                    user_id=principal.user_id,
                    why=SessionEnd.LOGOUT,
                    actor=principal,
                    now=now,
                )
        await self._revocations.announce([session_id], reason=RevokeReason.LOGOUT)

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
        """ValidateToken: the token's own holder, an admin, or a service with tokens:validate.

        Authorised before the token's state is looked at, so that an ordinary user learns nothing
        about another user's token: not whether it is live, revoked or expired."""
        require_text(token, field="access_token", max_length=64 * 1024)
        if not (caller.is_admin or caller.has_scope(Scope.TOKENS_VALIDATE)):
            try:
                claims = self._verifier.verify(token)
            except Unauthenticated as refused:
                if refused.reason != Reason.TOKEN_EXPIRED:
                    return TokenIntrospection(active=False)  # nobody's token, as far as it says
                # Whose it was cannot be told without trusting expired claims: refuse alike.
                raise PermissionDenied(
                    "only the token's holder or a service with tokens:validate may validate it"
                ) from None
            if claims.is_service or not (
                claims.subject == caller.subject and claims.session_id == str(caller.session_id)
            ):
                raise PermissionDenied(
                    "only the token's holder or a service with tokens:validate may validate it"
                )
        try:
            subject = await self.authenticate(token)
        except Unauthenticated:
            return TokenIntrospection(active=False)
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


async def _session_user(users: UserRepository, family: SessionRecord, now: dt.datetime) -> User:
    """The user a session may still act for; Unauthenticated when the session or user may not."""
    if family.revoked_at is not None:
        raise Unauthenticated("the session has been revoked", reason=Reason.TOKEN_REVOKED)
    if family.expires_at <= now:
        raise Unauthenticated("the session has expired", reason=Reason.REFRESH_TOKEN_EXPIRED)
    stored = None if family.user_id is None else await users.get(family.user_id)
    if stored is None or stored.user.state is not UserState.ACTIVE:
        raise Unauthenticated("this account is disabled", reason=Reason.USER_DISABLED)
    return stored.user


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
