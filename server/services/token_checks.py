"""Token checks: who is behind an access token (every authenticated call), and ValidateToken."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

from server.cache.revocations import RevocationStore
from server.clock import Clock
from server.domain import Principal, Role, Scope, TokenIntrospection
from server.errors import PermissionDenied, Reason, Unauthenticated
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import AccessClaims, token_invalid
from server.services.inputs import require_text
from server.services.unit_of_work import UnitOfWorkFactory

# The client id of a service account whose token (subject, issued at) may still be honoured;
# None when it must be refused.
ServiceTokenLive = Callable[[str, dt.datetime], Awaitable[str | None]]


class TokenChecks:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        verifier: CachingTokenVerifier,
        revocations: RevocationStore,
        service_token_live: ServiceTokenLive,
        clock: Clock,
    ) -> None:
        self._units = units
        self._verifier = verifier
        self._revocations = revocations
        self._service_token_live = service_token_live
        self._clock = clock

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
        principal = user_principal(claims)
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


def user_principal(claims: AccessClaims) -> Principal:
    try:
        session_id = uuid.UUID(claims.session_id or "")
        uuid.UUID(claims.subject)
        role = Role(claims.role or "")
    except ValueError:
        raise token_invalid() from None
    return Principal(
        subject=claims.subject, expires_at=claims.expires_at, session_id=session_id, role=role
    )
