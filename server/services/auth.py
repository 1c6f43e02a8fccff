"""Authentication: login, refresh-token rotation with reuse detection, logout, token checks."""

from __future__ import annotations

import collections
import datetime as dt
import uuid

import structlog

from server.cache.rate_limit import RateLimiter
from server.cache.revocations import RevocationStore
from server.clock import Clock
from server.domain import (
    ClientInfo,
    EventType,
    Party,
    Principal,
    RevokeReason,
    SessionEnd,
    TokenIntrospection,
    TokenPair,
    UserState,
)
from server.errors import (
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    Reason,
    Unauthenticated,
    Unavailable,
)
from server.security.password_policy import MAX_PASSWORD_LENGTH
from server.security.passwords import PasswordHasher
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import (
    AccessTokenCodec,
    new_refresh_token,
    refresh_token_hash,
    seal_successor,
)
from server.services.access import require_user
from server.services.event_log import LoginRefusals, append_revoked, new_event
from server.services.inputs import email_key, normalize_email, require_text
from server.services.limits import Limits, rate_limited
from server.services.refresh_rotation import TokenMinter, grace_successor, session_user
from server.services.token_checks import ServiceTokenLive, TokenChecks
from server.services.unit_of_work import (
    UnitOfWorkFactory,
)

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
        self._hasher = hasher
        self._codec = codec
        self._revocations = revocations
        self._limiter = limiter
        self._limits = limits
        self._refresh_ttl = refresh_ttl
        self._reuse_grace = reuse_grace
        self._clock = clock
        self._refusals = LoginRefusals(units, clock)
        self._tokens = TokenMinter(codec, access_ttl)
        self._checks = TokenChecks(
            units=units,
            verifier=verifier,
            revocations=revocations,
            service_token_live=service_token_live,
            clock=clock,
        )
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
        return self._tokens.pair(
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
            user = await session_user(uow.users, family, now)
            if token.rotated_at is None:
                sealed = seal_successor(refresh_token, new_token) if self._reuse_grace else None
                if await uow.refresh_tokens.rotate_if_current(
                    token_hash, refresh_token_hash(new_token), now, successor_sealed=sealed
                ):
                    self.refresh_tokens_issued += 1  # counted before the commit; rarely undone
                    return self._tokens.pair(
                        user.id, family.id, user.role, new_token, now, family.expires_at
                    )
                # Another call rotated it first; it held the row until it committed.
                found = await uow.refresh_tokens.find(token_hash)
                assert found is not None
                token = found[0]
            successor = await grace_successor(
                uow.refresh_tokens, token, refresh_token, now, self._reuse_grace
            )
            if successor is not None:
                return self._tokens.pair(
                    user.id, family.id, user.role, successor, now, family.expires_at
                )
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
        return await self._checks.authenticate(token)

    async def introspect(self, token: str, caller: Principal) -> TokenIntrospection:
        return await self._checks.introspect(token, caller)

    def jwks(self) -> list[dict[str, str]]:
        return self._codec.keys.jwks()
